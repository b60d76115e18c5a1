#pragma once

// An adapter whose upstream speaks HTTP (every built-in one). What every wire format does the same
// way is here once: the provider's config, the shared client and the endpoint; a chat call built,
// started and translated (upstream_call.h); an embeddings call made, its error mapped by the
// format's translator and its answer read; the health check's GET. What differs is one constant
// WireFormat per format:
//
//   constexpr WireFormat kCohere = {.chat = &CohereChat,
//                                   .translator = &NewCohereTranslator,
//                                   .health_path = "/v1/models",
//                                   .embed = &CohereEmbed,
//                                   .read_embeddings = &ReadCohereEmbeddings};
//   CohereProvider::CohereProvider(const ProviderConfig& config, HttpClient& http, ...)
//       : HttpProvider(config, http, kCohere, {BearerAuth(api_key)}) {}

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/common/v1/embedding.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/provider.h"
#include "services/provider_adapter/providers/upstream_call.h"
#include "services/provider_adapter/providers/upstream_endpoint.h"

namespace aimarket::provider {

class HttpProvider;

struct WireFormat {
  // The upstream request of a chat call, or the status that refuses it (a 400 naming the field).
  // Null for an adapter that overrides Generate.
  absl::StatusOr<HttpCallRequest> (*chat)(const HttpProvider& p, const std::string& upstream_model,
                                          const common::v1::ChatRequest& req) = nullptr;
  // The translator of a chat call's answer; it also reads an embeddings call's error answers.
  std::unique_ptr<Translator> (*translator)(const HttpProvider& p,
                                            const std::string& upstream_model) = nullptr;
  Framing framing = Framing::kSse;
  // HealthRequest's GET: the cheapest read-only call that shows the upstream up and the key
  // accepted (its model list, or TGI's /health).
  absl::string_view health_path = {};
  // The embeddings request, and the read of its 2xx answer; both null for a format without
  // embeddings (Embed is then Provider's INVALID_ARGUMENT).
  absl::StatusOr<HttpCallRequest> (*embed)(const HttpProvider& p, const std::string& upstream_model,
                                           const common::v1::EmbedRequest& req) = nullptr;
  absl::StatusOr<common::v1::EmbedResponse> (*read_embeddings)(const HttpProvider& p,
                                                               const std::string& upstream_model,
                                                               absl::string_view body) = nullptr;
};

class HttpProvider : public Provider {
 public:
  // `http` and `format` (a constant) outlive the provider; `headers` are UpstreamEndpoint's.
  HttpProvider(const config::v1::ProviderConfig& config, HttpClient& http, const WireFormat& format,
               std::vector<std::string> headers);

  void Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  HttpCallRequest HealthRequest() const override;
  absl::StatusOr<common::v1::EmbedResponse> Embed(const rpc::CallContext& ctx,
                                                  const std::string& upstream_model,
                                                  const common::v1::EmbedRequest& req) override;

  const config::v1::ProviderConfig& config() const { return config_; }
  const UpstreamEndpoint& endpoint() const { return endpoint_; }

 protected:
  HttpClient& http() const { return http_; }
  // Starts the chat call `request` translated by `translator`, for an adapter whose Generate
  // builds them itself (Ollama's after it fetched the request's images, Anthropic's translator
  // that knows the request's JSON tool).
  void StartChat(const rpc::CallContext& ctx, const common::v1::ChatRequest& req,
                 absl::StatusOr<HttpCallRequest> request, std::unique_ptr<Translator> translator,
                 rpc::StreamObserver<common::v1::ChatEvent>& observer);

 private:
  const config::v1::ProviderConfig config_;
  HttpClient& http_;
  const WireFormat& format_;
  const UpstreamEndpoint endpoint_;
};

}  // namespace aimarket::provider
