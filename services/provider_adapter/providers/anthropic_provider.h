#pragma once

// Anthropic's Messages API (POST {base_url}/v1/messages, `x-api-key`, `anthropic-version:
// 2023-06-01`). What maps, what is emulated and what is refused is listed in docs/providers.md;
// in short:
//
// Requests (anthropic_request.h): system and developer messages → `system`; images as base64 or URL
// sources; assistant tool calls → `tool_use` blocks (arguments parsed into `input`); consecutive
// tool results → one user message of `tool_result` blocks; consecutive messages of one role merged;
// `max_tokens` required (kDefaultMaxTokens when the client sends none); temperature clamped to 0–1;
// `stop` → `stop_sequences`; tools, tool_choice and parallel_tool_calls mapped; `user` →
// `metadata.user_id`; `response_format` json_object / json_schema emulated with a forced tool whose
// input is returned as the message content. `n` > 1 and `logprobs` are refused (400); `seed`,
// the penalties and `logit_bias` are dropped. `reasoning_effort` → `thinking` with a budget
// (minimal 1024, low 2048, medium 8192, high 16384 tokens, within max_tokens), refusing
// temperature ≠ 1, top_p < 0.95, forced tools and JSON mode beside it; an echoed
// reasoning_signature leads its assistant message as a signed thinking block, and a tool turn
// whose assistant message lacks one goes without thinking.
//
// Responses and streams: text, thinking as reasoning_content with its signature as
// reasoning_signature, tool calls (ids kept, `{}` for empty input), finish reasons
// (end_turn/stop_sequence/pause_turn → stop, max_tokens → length, tool_use → tool_calls, refusal
// → content_filter), usage with cache reads as cached tokens, `event: error` mid-stream → an
// error event; unknown events and redacted thinking are ignored.

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/anthropic_request.h"
#include "services/provider_adapter/providers/http_provider.h"

namespace aimarket::provider {

class AnthropicProvider final : public HttpProvider {
 public:
  static constexpr int kDefaultMaxTokens = kAnthropicDefaultMaxTokens;

  AnthropicProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                    absl::string_view api_key = "");

  void Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
};

}  // namespace aimarket::provider
