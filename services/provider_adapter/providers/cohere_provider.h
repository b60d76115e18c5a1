#pragma once

// Cohere's Chat API v2 (POST {base_url}/v2/chat, `Authorization: Bearer`). docs/providers.md has
// the table; in short:
//
// Requests: messages keep their roles (system, user, assistant, tool); images as image_url parts;
// an assistant message's text beside tool calls becomes its `tool_plan`; tool results become
// `document` content; `max_tokens`; temperature clamped to 0–1 and top_p to Cohere's `p` range
// (0.01–0.99); `stop` → `stop_sequences` (at most 5); seed and the penalties as they are;
// response_format → `json_object` (with `json_schema`); tools as they are; tool_choice required /
// none → REQUIRED / NONE, a named function → REQUIRED with only that tool offered. `n` > 1 and
// `logprobs` are refused (400); `user` and `parallel_tool_calls` are dropped.
//
// Responses and streams: text, thinking as reasoning_content (tool plans dropped), tool calls with
// Cohere's ids,
// COMPLETE/STOP_SEQUENCE → stop, MAX_TOKENS → length, TOOL_CALL → tool_calls, ERROR and TIMEOUT →
// an error (never a silent "stop"), usage from `tokens` (falling back to `billed_units`), errors
// {"id","message"} mapped by status (422 → 400, 498 → 401, 499 → 500).

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/http_provider.h"

namespace aimarket::provider {

class CohereProvider final : public HttpProvider {
 public:
  CohereProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                 absl::string_view api_key = "");
};

// The /v2/chat body for `req`. Exposed for tests.
absl::StatusOr<std::string> BuildCohereBody(const common::v1::ChatRequest& req,
                                            const std::string& upstream_model);

}  // namespace aimarket::provider
