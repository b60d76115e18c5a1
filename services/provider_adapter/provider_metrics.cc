#include "services/provider_adapter/provider_metrics.h"

#include <optional>

#include "absl/strings/match.h"
#include "common/metrics/metrics.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace aimarket::provider {
namespace {

constexpr const char* kOutcomeNames[] = {"ok",      "http_4xx",  "http_5xx",     "transport",
                                         "timeout", "cancelled", "bad_response", "refused"};

}  // namespace

ProviderMetrics::Outcome ProviderMetrics::OutcomeOf(const absl::Status& s) {
  if (s.ok()) return kOk;
  if (s.code() == absl::StatusCode::kCancelled) return kCancelled;
  if (s.code() == absl::StatusCode::kDeadlineExceeded) return kTimeout;
  std::optional<common::v1::ErrorInfo> info = status::GetErrorInfo(s);
  if (info.has_value()) {
    if (info->reason() == status::reason::kUpstreamBadResponse) return kBadResponse;
    if (info->reason() == status::reason::kUpstreamUnreachable ||
        info->reason() == status::reason::kUpstreamDisconnected)
      return kTransport;
    if (absl::StartsWith(info->domain(), "provider."))
      return info->http_status() >= 500 ? kHttp5xx : kHttp4xx;
  }
  return kRefused;  // Not sent: a field the provider cannot honour, an unsupported call.
}

ProviderMetrics ProviderMetrics::For(const std::string& provider) {
  static auto& calls =
      prometheus::BuildCounter()
          .Name("aimarket_provider_calls_total")
          .Help("Calls to upstream providers, by provider, kind of call and outcome.")
          .Register(metrics::Registry());
  static auto& first = prometheus::BuildHistogram()
                           .Name("aimarket_provider_first_event_seconds")
                           .Help("Chat calls: time from the call to the upstream's first event.")
                           .Register(metrics::Registry());
  static auto& whole = prometheus::BuildHistogram()
                           .Name("aimarket_provider_call_seconds")
                           .Help("Calls to upstream providers: time to the end of the answer.")
                           .Register(metrics::Registry());
  const prometheus::Histogram::BucketBoundaries buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                        1,     2.5,  5,     10,   30,  60};
  ProviderMetrics m;
  for (int o = 0; o < ProviderMetrics::kOutcomes; ++o) {
    m.chat[o] =
        &calls.Add({{"provider", provider}, {"call", "chat"}, {"outcome", kOutcomeNames[o]}});
    m.embeddings[o] =
        &calls.Add({{"provider", provider}, {"call", "embeddings"}, {"outcome", kOutcomeNames[o]}});
  }
  m.first_event = &first.Add({{"provider", provider}}, buckets);
  m.chat_seconds = &whole.Add({{"provider", provider}, {"call", "chat"}}, buckets);
  m.embeddings_seconds = &whole.Add({{"provider", provider}, {"call", "embeddings"}}, buckets);
  return m;
}

}  // namespace aimarket::provider
