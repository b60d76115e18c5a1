#pragma once

// Budget alerts: a team's thresholds (percentages of its monthly budget), each announced once a
// month when the month's spend reaches it, never on the request path.
//
// Raise (usage-metering's sweeper, every second) takes the Ledger's due alerts and records each in
// one transaction: a budget_alerts row (unique by team, month and threshold, so a crash between
// the commit and AlertFired cannot fire it twice) and an audit entry (team.budget_alert). Its own
// thread then POSTs each recorded alert to the team's webhook, signed with the team's secret:
//
//   x-aimarket-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// A 2xx answer delivers it; anything else is retried with exponential backoff (min_backoff
// doubling to max_backoff) up to max_attempts, then marked failed. Redirects are not followed. A
// slow or dead webhook delays only the other webhooks' deliveries (one thread, bounded timeout).

#include <atomic>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/db/pool.h"
#include "services/usage_metering/ledger.h"

namespace aimarket::usage {

struct BudgetAlertOptions {
  absl::Duration timeout = absl::Seconds(5);  // One delivery attempt, connection included.
  absl::Duration min_backoff = absl::Seconds(5);
  absl::Duration max_backoff = absl::Minutes(10);
  int max_attempts = 8;
  bool background = true;  // A delivering thread (tests call DeliverDue).
};

// The signature header's value for `body` sent at `unix_seconds`.
std::string WebhookSignature(absl::string_view secret, int64_t unix_seconds,
                             absl::string_view body);

class BudgetAlerts {
 public:
  using Options = BudgetAlertOptions;
  // `pool` and `ledger` outlive this.
  BudgetAlerts(db::ConnectionPool& pool, Ledger& ledger, Options options);
  ~BudgetAlerts();

  // Tells the Ledger which alerts of `month` were recorded already (at start).
  absl::Status LoadFired(absl::CivilMonth month);
  // Records the alerts now due. Returns how many were new.
  absl::StatusOr<int> Raise();
  // Attempts the deliveries now due (at most a batch). Returns how many were attempted.
  int DeliverDue();

 private:
  void Run();

  db::ConnectionPool& pool_;
  Ledger& ledger_;
  const Options options_;
  std::atomic<bool> stopping_{false};  // Aborts a delivery in flight.
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace aimarket::usage
