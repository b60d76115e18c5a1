#pragma once

// usage-metering's Prometheus families, built once against metrics::Registry():
//   aimarket_metering_admissions_total{result}        admitted | refused
//   aimarket_metering_open_reservations               admitted, not yet settled
//   aimarket_metering_events_written_total            usage events committed (new ones)
//   aimarket_metering_events_flagged_total{flag}      estimated | unpriced, of those written
//   aimarket_metering_writes_total{result}            ok | failed (transactions)
//   aimarket_metering_write_rows                      settlements per transaction (histogram)
//   aimarket_metering_write_seconds                   time per transaction (histogram)
//   aimarket_metering_ingest_lag_seconds              from a request's end to its event's commit
//   aimarket_metering_settlements_rejected_total      malformed settlements, logged and skipped

#include <cstdint>

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

  void Admitted(bool admitted);
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
  prometheus::Counter& admitted_;
  prometheus::Counter& refused_;
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
