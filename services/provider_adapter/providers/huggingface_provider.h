#pragma once

// Hugging Face: the router (https://router.huggingface.co, OpenAI-compatible, `Authorization:
// Bearer $HF_TOKEN`), text-generation-inference's OpenAI-compatible route, and TGI's native
// /generate and /generate_stream. ProviderConfig.api picks one (see config.proto);
// docs/providers.md has the table. In short:
//
// router and tgi (POST {base_url}/v1/chat/completions): the client's body is forwarded with
// `model` rewritten, `max_completion_tokens` → `max_tokens` (TGI reads only the latter) and, for
// TGI, `response_format` turned into TGI's grammar ({"type":"json","value":schema}); `n` > 1
// (TGI parses it and ignores it) and `logprobs` (not translated back) are refused. The answer is
// rebuilt in OpenAI's shape: TGI's empty ids replaced, its tool-call id "0" (the same for every
// call) made unique and kept consistent across a stream's chunks, `stop` with tool calls →
// `tool_calls`, a tool stream without a finish chunk given one, arguments sent as objects
// stringified, errors in either of the router's forms
// ({"error": "text"} or OpenAI's object) and TGI's {"error", "error_type"} mapped by status
// (422 → 400, 424 → 500), and `data:{"error":...}` inside a stream → an error event.
//
// generate (POST {base_url}/generate or /generate_stream): the conversation is rendered as plain
// text, the messages' texts separated by blank lines with no role markers (the model's chat
// template is not applied: use tgi or router for chat models); max_tokens → max_new_tokens, and
// temperature, top_p, stop, seed in `parameters`. Tools, images and response_format are refused
// (400). Tokens marked special are left out of the content; eos_token and stop_sequence → stop,
// length → length; usage from input_length and generated_tokens.

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/http_provider.h"

namespace aimarket::provider {

class HuggingFaceProvider final : public HttpProvider {
 public:
  HuggingFaceProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                      absl::string_view api_key = "");
};

// The request bodies (exposed for tests). `tgi` selects TGI's grammar for response_format.
absl::StatusOr<std::string> BuildHfChatBody(const common::v1::ChatRequest& req,
                                            const std::string& upstream_model, bool tgi);
absl::StatusOr<std::string> BuildTgiGenerateBody(const common::v1::ChatRequest& req);

}  // namespace aimarket::provider
