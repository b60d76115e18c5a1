#include "services/provider_adapter/provider_adapter.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/grpc_status.h"
#include "services/provider_adapter/providers/builtin_providers.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {

ProviderAdapter::ProviderAdapter(const config::v1::Config& config)
    : config_(config), http_(NewCurlHttpClient()) {
  for (const config::v1::ProviderConfig& p : config.providers()) {
    std::unique_ptr<Provider> provider = NewBuiltinProvider(p, *http_, config.remote_images());
    if (provider) providers_[p.name()] = std::move(provider);
  }
}

ProviderAdapter::~ProviderAdapter() {
  // The HTTP client first: it completes calls in flight while the providers still exist.
  http_.reset();
}

void ProviderAdapter::Generate(rpc::CallContext ctx, const v1::Target& target, const common::v1::ChatRequest& req,
                               rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  auto it = providers_.find(target.provider());
  if (it == providers_.end()) {
    const bool configured = std::any_of(config_.providers().begin(), config_.providers().end(),
                                        [&](const auto& p) { return p.name() == target.provider(); });
    observer.OnComplete(
        configured ? status::Error(absl::StatusCode::kUnimplemented, "PROVIDER_NOT_SUPPORTED",
                                   absl::StrCat("provider ", target.provider(), ": its wire format is not supported yet"))
                   : status::Error(absl::StatusCode::kInternal, "UNKNOWN_PROVIDER",
                                   absl::StrCat("no provider named ", target.provider())));
    return;
  }
  it->second->Generate(ctx, target.model(), req, observer);
}

absl::StatusOr<common::v1::EmbedResponse> ProviderAdapter::Embed(const rpc::CallContext& ctx, const v1::EmbedRequest& req) {
  auto it = providers_.find(req.target().provider());
  if (it == providers_.end()) {
    return status::Error(absl::StatusCode::kInternal, "UNKNOWN_PROVIDER",
                         absl::StrCat("no provider named ", req.target().provider()));
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<common::v1::EmbedResponse> resp = it->second->Embed(ctx, req.target().model(), req.request());
  if (resp.ok()) resp->set_upstream_us(absl::ToInt64Microseconds(absl::Now() - start));
  return resp;
}

absl::StatusOr<v1::CheckHealthResponse> ProviderAdapter::CheckHealth(const rpc::CallContext& ctx,
                                                                     const v1::CheckHealthRequest& req) {
  std::vector<std::string> names;
  std::vector<HttpCallRequest> calls;
  for (const auto& [name, provider] : providers_) {
    if (!req.provider().empty() && name != req.provider()) continue;
    names.push_back(name);
    calls.push_back(provider->HealthRequest());
  }
  if (!req.provider().empty() && names.empty()) {
    return status::Error(absl::StatusCode::kNotFound, "UNKNOWN_PROVIDER", absl::StrCat("no provider named ", req.provider()));
  }
  std::vector<absl::StatusOr<UpstreamAnswer>> answers = CallUpstreamAll(*http_, std::move(calls), ctx);
  v1::CheckHealthResponse resp;
  for (size_t i = 0; i < names.size(); ++i) {
    v1::ProviderHealth& h = *resp.add_providers();
    h.set_provider(names[i]);
    const absl::StatusOr<UpstreamAnswer>& a = answers[i];
    if (a.ok()) h.set_latency_ms(absl::ToInt64Milliseconds(a->elapsed));
    if (!a.ok()) {
      h.set_detail(std::string(a.status().message()));
    } else if (a->status < 200 || a->status >= 300) {
      h.set_detail(absl::StrCat("HTTP ", a->status, ": ", a->body.substr(0, 200)));
    } else {
      h.set_healthy(true);
    }
  }
  return resp;
}

}  // namespace aimarket::provider
