#include "services/provider_adapter/providers/http_provider.h"

#include <utility>

#include "common/status/status_macros.h"

namespace aimarket::provider {

HttpProvider::HttpProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                           const WireFormat& format, std::vector<std::string> headers)
    : config_(config), http_(http), format_(format), endpoint_(config_, std::move(headers)) {}

void HttpProvider::Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                            const common::v1::ChatRequest& req,
                            rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  StartChat(ctx, req, format_.chat(*this, upstream_model, req),
            format_.translator(*this, upstream_model), observer);
}

void HttpProvider::StartChat(const rpc::CallContext& ctx, const common::v1::ChatRequest& req,
                             absl::StatusOr<HttpCallRequest> request,
                             std::unique_ptr<Translator> translator,
                             rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  if (!request.ok()) return observer.OnComplete(request.status());
  StartUpstreamCall(http_, *std::move(request), ctx, std::move(translator), format_.framing,
                    req.stream(), observer);
}

HttpCallRequest HttpProvider::HealthRequest() const { return endpoint_.Get(format_.health_path); }

absl::StatusOr<common::v1::EmbedResponse> HttpProvider::Embed(const rpc::CallContext& ctx,
                                                              const std::string& upstream_model,
                                                              const common::v1::EmbedRequest& req) {
  if (format_.embed == nullptr) return Provider::Embed(ctx, upstream_model, req);
  AIM_ASSIGN_OR_RETURN(HttpCallRequest request, format_.embed(*this, upstream_model, req));
  AIM_ASSIGN_OR_RETURN(UpstreamAnswer answer, CallUpstream(http_, std::move(request), ctx));
  if (answer.status < 200 || answer.status >= 300) {
    return format_.translator(*this, upstream_model)
        ->OnHttpError(answer.status, answer.body, answer.retry_after);
  }
  return format_.read_embeddings(*this, upstream_model, answer.body);
}

}  // namespace aimarket::provider
