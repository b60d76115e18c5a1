#pragma once

// usage-metering's Prometheus families, built once against metrics::Registry():
//   aimarket_metering_admissions_total{result,limit}  admitted | refused (by limit) | unavailable
//   aimarket_metering_open_reservations               admitted, not yet settled
//   aimarket_metering_cost_above_reservation_total    settlements costing more than was reserved
//   aimarket_metering_cost_above_reservation_nano_usd_total   by how much, summed
//   aimarket_metering_unsettled_total                 reservations charged at expiry, unsettled
//   aimarket_metering_teams_past_budget_percent{percent}   teams whose month's spend has reached
//                                                     50 | 80 | 90 | 100 percent of their budget
//   aimarket_metering_budget_alerts_total             budget alerts recorded (once a month each)
//   aimarket_metering_webhook_deliveries_total{result}  delivered | retry | gave_up
//   aimarket_metering_events_written_total            usage events committed (new ones)
//   aimarket_metering_events_flagged_total{flag}      estimated | unpriced, of those written
//   aimarket_metering_writes_total{result}            ok | failed (transactions)
//   aimarket_metering_write_rows                      settlements per transaction (histogram)
//   aimarket_metering_write_seconds                   time per transaction (histogram)
//   aimarket_metering_ingest_lag_seconds              from a request's end to its event's commit
//   aimarket_metering_settlements_rejected_total      malformed settlements, logged and skipped

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "services/usage_metering/ledger.h"

namespace prometheus {
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace aimarket::usage {

class MeteringMetrics {
 public:
  static MeteringMetrics& Get();

  // `limit` refused it (Limit::kNone: admitted).
  void Admitted(Limit limit);
  // Refused because metering could not decide (starting, recovering).
  void Unavailable();
  void AboveReservation(int64_t excess_nanos);
  void Unsettled(int64_t n);
  void TeamsPastThresholds(const std::array<int32_t, 4>& percents,
                           const std::array<int64_t, 4>& teams);
  void AlertFired();
  void WebhookDelivery(absl::string_view result);
  void OpenReservations(int64_t open);
  void Written(int64_t inserted, int64_t estimated, int64_t unpriced);
  void Write(bool ok, int64_t rows, double seconds);
  void IngestLag(double seconds);
  void Rejected();

 private:
  MeteringMetrics();
  // Families with more than one series, built before their series.
  prometheus::Family<prometheus::Counter>& admissions_;
  prometheus::Family<prometheus::Counter>& flagged_;
  prometheus::Family<prometheus::Counter>& writes_;
  std::array<prometheus::Counter*, 6> by_limit_;  // Indexed by Limit; kNone: admitted.
  prometheus::Counter& unavailable_;
  prometheus::Counter& above_reservation_;
  prometheus::Counter& above_reservation_nanos_;
  prometheus::Counter& unsettled_;
  prometheus::Family<prometheus::Gauge>& teams_past_;
  prometheus::Counter& alerts_;
  prometheus::Family<prometheus::Counter>& deliveries_;
  prometheus::Gauge& reservations_;
  prometheus::Counter& written_;
  prometheus::Counter& estimated_;
  prometheus::Counter& unpriced_;
  prometheus::Counter& writes_ok_;
  prometheus::Counter& writes_failed_;
  prometheus::Histogram& write_rows_;
  prometheus::Histogram& write_seconds_;
  prometheus::Histogram& ingest_lag_;
  prometheus::Counter& rejected_;
};

}  // namespace aimarket::usage
