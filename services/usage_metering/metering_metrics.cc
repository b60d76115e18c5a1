#include "services/usage_metering/metering_metrics.h"

#include "absl/strings/str_cat.h"
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
                           "Admissions by result (admitted, refused, unavailable) and the limit "
                           "that refused.")),
      flagged_(Counters("aimarket_metering_events_flagged_total",
                        "Usage events written with a flag: estimated (no usage from the upstream), "
                        "unpriced (no known price).")),
      writes_(Counters("aimarket_metering_writes_total",
                       "Transactions writing usage events, by result: ok, failed.")),
      unavailable_(admissions_.Add({{"result", "unavailable"}, {"limit", "none"}})),
      above_reservation_(Counters("aimarket_metering_cost_above_reservation_total",
                                  "Settlements whose actual cost exceeded their reservation "
                                  "(booked in full).")
                             .Add({})),
      above_reservation_nanos_(
          Counters("aimarket_metering_cost_above_reservation_nano_usd_total",
                   "By how much actual costs exceeded their reservations, in nano-dollars.")
              .Add({})),
      unsettled_(Counters("aimarket_metering_unsettled_total",
                          "Reservations with no settlement in time, charged at their reserved "
                          "amount as unsettled events.")
                     .Add({})),
      teams_past_(prometheus::BuildGauge()
                      .Name("aimarket_metering_teams_past_budget_percent")
                      .Help("Teams whose month's spend has reached this percentage of their "
                            "monthly budget.")
                      .Register(metrics::Registry())),
      alerts_(Counters("aimarket_metering_budget_alerts_total",
                       "Budget alerts recorded (each threshold once a month per team).")
                  .Add({})),
      deliveries_(Counters("aimarket_metering_webhook_deliveries_total",
                           "Budget alert webhook attempts by result: delivered, retry, gave_up.")),
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
                    .Add({})) {
  for (Limit limit : {Limit::kNone, Limit::kMonthlyBudget, Limit::kParallelRequests,
                      Limit::kRequestsPerMinute, Limit::kRequestsPerDay, Limit::kTokensPerMinute}) {
    by_limit_[static_cast<size_t>(limit)] =
        &admissions_.Add({{"result", limit == Limit::kNone ? "admitted" : "refused"},
                          {"limit", std::string(LimitName(limit))}});
  }
}

void MeteringMetrics::Admitted(Limit limit) { by_limit_[static_cast<size_t>(limit)]->Increment(); }

void MeteringMetrics::Unavailable() { unavailable_.Increment(); }

void MeteringMetrics::AboveReservation(int64_t excess_nanos) {
  above_reservation_.Increment();
  above_reservation_nanos_.Increment(static_cast<double>(excess_nanos));
}

void MeteringMetrics::Unsettled(int64_t n) { unsettled_.Increment(static_cast<double>(n)); }

void MeteringMetrics::TeamsPastThresholds(const std::array<int32_t, 4>& percents,
                                          const std::array<int64_t, 4>& teams) {
  for (size_t i = 0; i < percents.size(); ++i) {
    teams_past_.Add({{"percent", absl::StrCat(percents[i])}}).Set(static_cast<double>(teams[i]));
  }
}

void MeteringMetrics::AlertFired() { alerts_.Increment(); }

void MeteringMetrics::WebhookDelivery(absl::string_view result) {
  deliveries_.Add({{"result", std::string(result)}}).Increment();
}

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
