#include "services/usage_metering/metering_metrics.h"

#include "common/metrics/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace aimarket::usage {
namespace {

prometheus::Family<prometheus::Counter>& Counters(const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(metrics::Registry());
}

prometheus::Histogram& Histogram(const char* name, const char* help,
                                 prometheus::Histogram::BucketBoundaries buckets) {
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(help)
      .Register(metrics::Registry())
      .Add({}, std::move(buckets));
}

}  // namespace

MeteringMetrics& MeteringMetrics::Get() {
  static MeteringMetrics* m = new MeteringMetrics();
  return *m;
}

MeteringMetrics::MeteringMetrics()
    : admissions_(Counters("aimarket_metering_admissions_total",
                           "Admissions by result: admitted, refused.")),
      flagged_(Counters("aimarket_metering_events_flagged_total",
                        "Usage events written with a flag: estimated (no usage from the upstream), "
                        "unpriced (no known price).")),
      writes_(Counters("aimarket_metering_writes_total",
                       "Transactions writing usage events, by result: ok, failed.")),
      admitted_(admissions_.Add({{"result", "admitted"}})),
      refused_(admissions_.Add({{"result", "refused"}})),
      reservations_(prometheus::BuildGauge()
                        .Name("aimarket_metering_open_reservations")
                        .Help("Requests admitted and not yet settled.")
                        .Register(metrics::Registry())
                        .Add({})),
      written_(Counters("aimarket_metering_events_written_total",
                        "Usage events committed to Postgres (a retried settlement counts once).")
                   .Add({})),
      estimated_(flagged_.Add({{"flag", "estimated"}})),
      unpriced_(flagged_.Add({{"flag", "unpriced"}})),
      writes_ok_(writes_.Add({{"result", "ok"}})),
      writes_failed_(writes_.Add({{"result", "failed"}})),
      write_rows_(Histogram("aimarket_metering_write_rows", "Settlements per transaction.",
                            {1, 10, 50, 100, 200, 500, 1000, 2000})),
      write_seconds_(Histogram("aimarket_metering_write_seconds",
                               "Time per transaction writing usage events.",
                               {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5})),
      ingest_lag_(Histogram("aimarket_metering_ingest_lag_seconds",
                            "From the end of a request to the commit of its usage event.",
                            {0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30})),
      rejected_(Counters("aimarket_metering_settlements_rejected_total",
                         "Malformed settlements, logged and skipped.")
                    .Add({})) {}

void MeteringMetrics::Admitted(bool admitted) { (admitted ? admitted_ : refused_).Increment(); }

void MeteringMetrics::OpenReservations(int64_t open) {
  reservations_.Set(static_cast<double>(open));
}

void MeteringMetrics::Written(int64_t inserted, int64_t estimated, int64_t unpriced) {
  written_.Increment(static_cast<double>(inserted));
  estimated_.Increment(static_cast<double>(estimated));
  unpriced_.Increment(static_cast<double>(unpriced));
}

void MeteringMetrics::Write(bool ok, int64_t rows, double seconds) {
  (ok ? writes_ok_ : writes_failed_).Increment();
  write_rows_.Observe(static_cast<double>(rows));
  write_seconds_.Observe(seconds);
}

void MeteringMetrics::IngestLag(double seconds) { ingest_lag_.Observe(seconds); }

void MeteringMetrics::Rejected() { rejected_.Increment(); }

}  // namespace aimarket::usage
