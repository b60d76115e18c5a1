#pragma once

// provider-adapter's Prometheus families, built once against metrics::Registry(), with the series
// of each configured provider made when the adapter starts (so a call costs pointer increments):
//   aimarket_provider_calls_total{provider, call="chat"|"embeddings", outcome}
//   aimarket_provider_first_event_seconds{provider}  (chat: from the call to its first event)
//   aimarket_provider_call_seconds{provider, call}   (the whole call)

#include <string>

#include "absl/status/status.h"

namespace prometheus {
class Counter;
class Histogram;
}  // namespace prometheus

namespace aimarket::provider {

// The series of one provider.
struct ProviderMetrics {
  enum Outcome {
    kOk,
    kHttp4xx,
    kHttp5xx,
    kTransport,
    kTimeout,
    kCancelled,
    kBadResponse,
    kRefused,
    kOutcomes
  };
  static Outcome OutcomeOf(const absl::Status& s);
  // The series of the provider named `provider` (its config name), made once per provider.
  static ProviderMetrics For(const std::string& provider);
  prometheus::Counter* chat[kOutcomes] = {};
  prometheus::Counter* embeddings[kOutcomes] = {};
  prometheus::Histogram* first_event = nullptr;
  prometheus::Histogram* chat_seconds = nullptr;
  prometheus::Histogram* embeddings_seconds = nullptr;
};

}  // namespace aimarket::provider
