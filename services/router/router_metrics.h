#pragma once

// The router's Prometheus families, built once against metrics::Registry():
//   aimarket_router_principal_lookups_total{result}  hit | refresh | miss (asked team-management)
//   aimarket_router_settlements_pending               taken, not yet acknowledged by metering
//   aimarket_router_settlement_oldest_seconds         how long the oldest unsent one has waited
//   aimarket_router_settle_batches_total{result}      sent | failed (retried)
//   aimarket_router_settle_batch_size                 settlements per batch (histogram)
//   aimarket_router_settlements_acknowledged_total

#include <cstdint>

#include "absl/time/time.h"

namespace prometheus {
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace aimarket::router {

class RouterMetrics {
 public:
  static RouterMetrics& Get();

  enum class Lookup { kHit, kRefresh, kMiss };
  void CountLookup(Lookup result);

  void SettlementQueued(int64_t pending);
  void SettlementOldest(absl::Duration age);
  void SettleBatchSent(size_t size);
  void SettleBatchFailed();
  void SettlementsAcknowledged(size_t count, int64_t pending);

 private:
  RouterMetrics();
  prometheus::Counter& hit_;
  prometheus::Counter& refresh_;
  prometheus::Counter& miss_;
  prometheus::Gauge& pending_;
  prometheus::Gauge& oldest_;
  prometheus::Counter& batches_sent_;
  prometheus::Counter& batches_failed_;
  prometheus::Histogram& batch_size_;
  prometheus::Counter& acknowledged_;
};

}  // namespace aimarket::router
