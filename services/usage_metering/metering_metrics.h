#pragma once

// usage-metering's Prometheus families, built once against metrics::Registry():
//   aimarket_metering_admissions_total{result,limit}  admitted | refused (by limit) | unavailable
//   aimarket_metering_open_reservations               admitted, not yet settled
//   aimarket_metering_cost_above_reservation_total    settlements costing more than was reserved
//   aimarket_metering_cost_above_reservation_nano_usd_total   by how much, summed
//   aimarket_metering_unsettled_total                 reservations charged at expiry, unsettled
//   aimarket_metering_events_written_total            usage events committed (new ones)
//   aimarket_metering_events_flagged_total{flag}      estimated | unpriced, of those written
//   aimarket_metering_writes_total{result}            ok | failed (transactions)
//   aimarket_metering_write_rows                      settlements per transaction (histogram)
//   aimarket_metering_write_seconds                   time per transaction (histogram)
//   aimarket_metering_ingest_lag_seconds              from a request's end to its event's commit
//   aimarket_metering_settlements_rejected_total      malformed settlements, logged and skipped

#include <array>
#include <cstdint>

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
