#include "services/provider_adapter/provider_adapter.h"

#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/config/provider_types.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "common/status/status_macros.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "services/provider_adapter/providers/builtin_providers.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {

namespace {

// The operator's provider key, wherever an upstream's words quote it (an error message saying
// "Incorrect API key provided: sk-..."), replaced before the words leave the adapter. Keys shorter
// than 8 bytes are not looked for (they would match ordinary text).
absl::Status WithoutSecret(const absl::Status& s, absl::string_view secret) {
  if (s.ok() || secret.size() < 8 || !absl::StrContains(s.message(), secret)) return s;
  absl::Status out(s.code(), absl::StrReplaceAll(s.message(), {{secret, "[redacted]"}}));
  s.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// Times one chat call and counts its outcome, then hands everything on, without the provider's
// key. Deletes itself.
class MeasuredCall final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  MeasuredCall(const ProviderMetrics& m, absl::string_view secret,
               rpc::StreamObserver<common::v1::ChatEvent>& next)
      : m_(m), secret_(secret), next_(next) {}
  void OnEvent(const common::v1::ChatEvent& ev) override {
    if (!first_) {
      first_ = true;
      m_.first_event->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    next_.OnEvent(ev);
  }
  void OnComplete(const absl::Status& s) override {
    m_.chat[ProviderMetrics::OutcomeOf(s)]->Increment();
    m_.chat_seconds->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    rpc::StreamObserver<common::v1::ChatEvent>& next = next_;
    const absl::Status out = WithoutSecret(s, secret_);
    delete this;
    next.OnComplete(out);
  }

 private:
  const ProviderMetrics& m_;
  const absl::string_view secret_;  // The entry's, which outlives the call.
  rpc::StreamObserver<common::v1::ChatEvent>& next_;
  const absl::Time start_ = absl::Now();
  bool first_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ProviderAdapter>> ProviderAdapter::Create(
    const config::v1::Config& config) {
  std::unique_ptr<ProviderAdapter> adapter(new ProviderAdapter(config));
  for (int i = 0; i < config.providers_size(); ++i) {
    const config::v1::ProviderConfig& p = config.providers(i);
    absl::StatusOr<std::unique_ptr<Provider>> made =
        NewBuiltinProvider(p, *adapter->http_, config.remote_images());
    Entry& entry = adapter->providers_[p.name()];
    if (made.ok()) {
      entry.provider = *std::move(made);
      entry.api_key = config::ProviderApiKey(p).value_or("");
    } else if (made.status().code() == absl::StatusCode::kFailedPrecondition) {
      entry.unavailable = std::string(made.status().message());
    } else {
      return absl::Status(made.status().code(),
                          absl::StrCat("providers[", i, "].", made.status().message()));
    }
  }
  return adapter;
}

absl::StatusOr<const ProviderAdapter::Entry*> ProviderAdapter::Find(const std::string& name) const {
  auto it = providers_.find(name);
  if (it == providers_.end()) {
    return status::Error(absl::StatusCode::kInternal, "UNKNOWN_PROVIDER",
                         absl::StrCat("no provider named ", name));
  }
  if (!it->second.provider) {
    return status::Error(
        absl::StatusCode::kNotFound, "PROVIDER_KEY_MISSING",
        absl::StrCat("The provider '", name, "' is not available: ", it->second.unavailable, "."));
  }
  return &it->second;
}

ProviderAdapter::ProviderAdapter(const config::v1::Config& config)
    : http_(NewCurlHttpClient()), embed_pool_(std::make_unique<thread::WorkerPool>(kEmbedThreads)) {
  for (const config::v1::ProviderConfig& p : config.providers()) {
    providers_[p.name()].metrics = ProviderMetrics::For(p.name());
  }
}

ProviderAdapter::~ProviderAdapter() {
  // Embeddings calls in flight first (they use the providers and the HTTP client), then the HTTP
  // client: it completes calls in flight while the providers still exist.
  embed_pool_.reset();
  http_.reset();
}

void ProviderAdapter::Generate(rpc::CallContext ctx, const v1::Target& target,
                               const common::v1::ChatRequest& req,
                               rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  absl::StatusOr<const Entry*> entry = Find(target.provider());
  if (!entry.ok()) return observer.OnComplete(entry.status());
  (*entry)->provider->Generate(ctx, target.model(), req,
                               *new MeasuredCall((*entry)->metrics, (*entry)->api_key, observer));
}

void ProviderAdapter::Embed(const rpc::CallContext& ctx, const v1::EmbedRequest& req,
                            rpc::Done<common::v1::EmbedResponse> done) {
  absl::StatusOr<const Entry*> found = Find(req.target().provider());
  if (!found.ok()) return done(found.status());
  embed_pool_->Run([entry = *found, ctx, &req, done = std::move(done)]() mutable {
    const absl::Time start = absl::Now();
    absl::StatusOr<common::v1::EmbedResponse> resp =
        entry->provider->Embed(ctx, req.target().model(), req.request());
    const absl::Duration took = absl::Now() - start;
    const ProviderMetrics& m = entry->metrics;
    m.embeddings[ProviderMetrics::OutcomeOf(resp.status())]->Increment();
    m.embeddings_seconds->Observe(absl::ToDoubleSeconds(took));
    if (!resp.ok()) return done(WithoutSecret(resp.status(), entry->api_key));
    resp->set_upstream_us(absl::ToInt64Microseconds(took));
    done(std::move(resp));
  });
}

absl::StatusOr<v1::CheckHealthResponse> ProviderAdapter::CheckHealth(
    const rpc::CallContext& ctx, const v1::CheckHealthRequest& req) {
  std::vector<std::string> names;
  std::vector<HttpCallRequest> calls;
  for (const auto& [name, entry] : providers_) {
    if (!req.provider().empty() && name != req.provider()) continue;
    if (!entry.provider) continue;  // Unavailable: answered below without a call.
    names.push_back(name);
    calls.push_back(entry.provider->HealthRequest());
  }
  if (!req.provider().empty() && names.empty() && !providers_.contains(req.provider())) {
    return status::Error(absl::StatusCode::kNotFound, "UNKNOWN_PROVIDER",
                         absl::StrCat("no provider named ", req.provider()));
  }
  std::vector<absl::StatusOr<UpstreamAnswer>> answers =
      CallUpstreamAll(*http_, std::move(calls), ctx);
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
  for (const auto& [name, entry] : providers_) {
    if (entry.provider || (!req.provider().empty() && name != req.provider())) continue;
    v1::ProviderHealth& h = *resp.add_providers();
    h.set_provider(name);
    h.set_detail(entry.unavailable);
  }
  return resp;
}

}  // namespace aimarket::provider
