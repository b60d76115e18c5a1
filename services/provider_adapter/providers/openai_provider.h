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
#include "services/provider_adapter/providers/provider.h"
#include "services/provider_adapter/providers/upstream_endpoint.h"

namespace aimarket::provider {

class OpenAiProvider final : public Provider {
 public:
  // `http` is not owned and outlives the provider; `api_key` is "" for a keyless server.
  OpenAiProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                 absl::string_view api_key = "");

  void Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  HttpCallRequest HealthRequest() const override;
  absl::StatusOr<common::v1::EmbedResponse> Embed(const rpc::CallContext& ctx,
                                                  const std::string& upstream_model,
                                                  const common::v1::EmbedRequest& req) override;

 private:
  const config::v1::ProviderConfig config_;
  HttpClient& http_;
  const UpstreamEndpoint endpoint_;
  bool strict_done_;  // openai: a stream must end with [DONE]; openai-compatible servers may not.
};

// The upstream request body for `req` (exposed for tests).
std::string BuildOpenAiBody(const common::v1::ChatRequest& req, const std::string& upstream_model);

// An upstream's HTTP error as a status carrying its status, type, param, code and Retry-After.
absl::Status UpstreamHttpError(absl::string_view provider, int http_status, absl::string_view body,
                               absl::string_view retry_after);

}  // namespace aimarket::provider
