#pragma once

// The OpenAI wire format (POST {base_url}/chat/completions), for OpenAI itself (`openai`) and any
// server that speaks it (`openai-compatible`).
//
// Requests: the client's original JSON body is forwarded intact, with only `model` rewritten to the
// deployment's upstream model, `stream` set as asked, and — for streams — `stream_options.
// include_usage` forced on so that every stream is metered (the edge drops the usage chunk again
// when the client did not ask for it). A request without an original body (an internal gRPC
// caller) is serialized from its structured fields.
//
// Responses: each SSE chunk (or the whole completion) is forwarded verbatim as ChatEvent.raw_json,
// with usage and finish reasons parsed beside it. Upstream HTTP errors keep their status, type,
// param, code and Retry-After; a `data: {"error":...}` inside a stream ends the call with that
// error.

#include <memory>
#include <string>

#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/http_provider.h"

namespace aimarket::provider {

class OpenAiProvider final : public HttpProvider {
 public:
  // `http` is not owned and outlives the provider; `api_key` is "" for a keyless server.
  OpenAiProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                 absl::string_view api_key = "");
};

// The upstream request body for `req` (exposed for tests).
std::string BuildOpenAiBody(const common::v1::ChatRequest& req, const std::string& upstream_model);

// An upstream's HTTP error as a status carrying its status, type, param, code and Retry-After.
absl::Status UpstreamHttpError(absl::string_view provider, int http_status, absl::string_view body,
                               absl::string_view retry_after);

}  // namespace aimarket::provider
