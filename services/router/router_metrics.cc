#include "services/router/router_metrics.h"

#include "common/metrics/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace aimarket::router {
namespace {

prometheus::Family<prometheus::Counter>& Lookups() {
  return prometheus::BuildCounter()
      .Name("aimarket_router_principal_lookups_total")
      .Help(
          "API keys looked up by the router, by result: hit, refresh (served while refreshed "
          "ahead), miss (asked team-management).")
      .Register(metrics::Registry());
}

prometheus::Family<prometheus::Counter>& Batches() {
  return prometheus::BuildCounter()
      .Name("aimarket_router_settle_batches_total")
      .Help("Batches of settlements sent to usage-metering, by result: sent, failed (retried).")
      .Register(metrics::Registry());
}

}  // namespace

RouterMetrics& RouterMetrics::Get() {
  static RouterMetrics* m = new RouterMetrics();
  return *m;
}

RouterMetrics::RouterMetrics()
    : hit_(Lookups().Add({{"result", "hit"}})),
      refresh_(Lookups().Add({{"result", "refresh"}})),
      miss_(Lookups().Add({{"result", "miss"}})),
      pending_(prometheus::BuildGauge()
                   .Name("aimarket_router_settlements_pending")
                   .Help("Settlements taken by the router and not yet acknowledged by "
                         "usage-metering.")
                   .Register(metrics::Registry())
                   .Add({})),
      oldest_(prometheus::BuildGauge()
                  .Name("aimarket_router_settlement_oldest_seconds")
                  .Help("How long the oldest settlement not yet sent has waited.")
                  .Register(metrics::Registry())
                  .Add({})),
      batches_sent_(Batches().Add({{"result", "sent"}})),
      batches_failed_(Batches().Add({{"result", "failed"}})),
      batch_size_(prometheus::BuildHistogram()
                      .Name("aimarket_router_settle_batch_size")
                      .Help("Settlements per batch sent to usage-metering.")
                      .Register(metrics::Registry())
                      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 20, 50, 100,
                                                                       200, 500})),
      acknowledged_(prometheus::BuildCounter()
                        .Name("aimarket_router_settlements_acknowledged_total")
                        .Help("Settlements usage-metering has acknowledged (their events are "
                              "committed).")
                        .Register(metrics::Registry())
                        .Add({})) {}

void RouterMetrics::CountLookup(Lookup result) {
  (result == Lookup::kHit ? hit_ : result == Lookup::kRefresh ? refresh_ : miss_).Increment();
}

void RouterMetrics::SettlementQueued(int64_t pending) {
  pending_.Set(static_cast<double>(pending));
}

void RouterMetrics::SettlementOldest(absl::Duration age) {
  oldest_.Set(absl::ToDoubleSeconds(age));
}

void RouterMetrics::SettleBatchSent(size_t size) {
  batches_sent_.Increment();
  batch_size_.Observe(static_cast<double>(size));
}

void RouterMetrics::SettleBatchFailed() { batches_failed_.Increment(); }

void RouterMetrics::SettlementsAcknowledged(size_t count, int64_t pending) {
  acknowledged_.Increment(static_cast<double>(count));
  pending_.Set(static_cast<double>(pending));
}

}  // namespace aimarket::router
