#pragma once

// Ollama's native chat API (POST {base_url}/api/chat, NDJSON streams; no key unless the config
// names one, sent as a bearer token for Ollama behind a proxy). Ollama's own OpenAI-compatible
// route is the `openai-compatible` type. docs/providers.md has the table; in short:
//
// Requests: roles as they are, content as one string (text parts joined), images as base64 in
// `images` (data: URLs; an http(s) URL is a 400 naming it unless `remote_images.fetch` is on, as
// Ollama needs the bytes: then aimarket fetches it, see image_fetch.h), assistant tool calls with
// object arguments, tool results named by `tool_name` (looked up from the call's id), sampling in
// `options` (temperature, top_p, num_predict, stop, seed, the penalties), response_format →
// `format` ("json" or the schema), `stream` always explicit. tool_choice "none" sends no tools;
// "required" or a named function, `n` > 1 and `logprobs` are refused (400); `user` and
// `parallel_tool_calls` are dropped. `reasoning_effort` → `think` (false for none, else true).
//
// Responses and streams: content, `thinking` as reasoning_content, tool calls (whole, in one line;
// Ollama's id kept or one made), done_reason stop → stop (tool_calls when calls came), length →
// length, usage from prompt_eval_count / eval_count (absent means 0), a last {"error": ...} line →
// an error event.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/http_provider.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {

class OllamaProvider final : public HttpProvider {
 public:
  // `images` says whether (and how) to fetch images given by URL; it outlives the provider.
  OllamaProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                 const config::v1::RemoteImagesConfig& images =
                     config::v1::RemoteImagesConfig::default_instance(),
                 absl::string_view api_key = "");

  // Fetches the request's remote images first when `images` says so.
  void Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;

 private:
  const config::v1::RemoteImagesConfig& images_;
};

// The /api/chat body for `req`, with the remote images already fetched. Exposed for tests.
absl::StatusOr<std::string> BuildOllamaBody(const common::v1::ChatRequest& req,
                                            const std::string& upstream_model,
                                            const std::map<std::string, DataUrl>& fetched = {});

}  // namespace aimarket::provider
