#pragma once

// usage-metering's logic: admission against budgets and rate limits (in memory, the Ledger) and
// settlement into durable usage events in Postgres. Never sees gRPC.
//
// Admit asks the Ledger, which holds the request's worst case as a reservation or refuses it
// (429, naming the limit). At start the month's spend is loaded from the events; then, for
// `recovery_grace`, requests of teams and keys with limits are refused (503) while the routers
// re-send the reservations they hold (Sync), so that the rule survives a restart. Reservations
// of a router silent for `reservation_ttl` (dead) are charged at their reserved amount.
//
// Settle hands its settlements to the event writer and answers once they are committed
// (docs/usage.md):
// writer threads take whatever settlements have queued up (from every router) and write them in
// one transaction, COPY into a temporary staging table and then
//   INSERT INTO usage_events SELECT ... FROM staging ON CONFLICT DO NOTHING
// so a settlement retried with the same request id and start time is recorded once. The
// reservations of committed settlements are released, and the cost of each event that was new
// joins its month's spend (INSERT ... RETURNING says which). Monthly partitions are created ahead
// of time (and on demand for an event of a month without one); those past `retention_months` are
// detached and dropped by a maintenance thread. Postgres keeps the daily rollups (usage_daily)
// current itself, by a trigger in the same transaction (migration 0009); the maintenance thread
// deletes those past `rollup_retention_months`.
//
// QueryUsage, ListUsageEvents and ExportUsage are UsageAnalytics' (usage_analytics.h), given at
// construction; QueryUsage adds the team's month from the Ledger.
//
// Without a database (tests of admission alone) there is no spend to load and no grace.

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/db/pool.h"
#include "common/time/clock.h"
#include "services/usage_metering/budget_alerts.h"
#include "services/usage_metering/ledger.h"
#include "services/usage_metering/metering_api.h"
#include "services/usage_metering/usage_analytics.h"

namespace aimarket::usage {

// How usage-metering writes and keeps events.
struct MeteringOptions {
  // Settlements written in one transaction at most.
  int max_rows_per_write = 2000;
  // Transactions writing at once (each holds a pooled connection while it writes).
  int writer_threads = 2;
  // Monthly partitions kept ahead of the current month.
  int months_ahead = 2;
  // Months of events kept (the current one included); 0 keeps them forever.
  int retention_months = 13;
  // Months of daily rollups (usage_daily) kept, the current one included; 0 keeps them forever.
  // Longer than the events': analytics over past years need no events.
  int rollup_retention_months = 60;
  // A reservation is charged at its reserved amount once its router has been silent this long
  // (it died with the request): see LedgerOptions.
  absl::Duration reservation_ttl = absl::Minutes(2);
  // After the month's spend is loaded at start: how long requests of teams and keys with limits
  // are refused (503) while the routers re-send the reservations they hold. Longer than the
  // routers' sync interval (1 s).
  absl::Duration recovery_grace = absl::Seconds(5);
  // Budget alerts' webhook deliveries.
  BudgetAlertOptions alerts;
  // Settlements queued for writing at most; beyond it Settle answers RESOURCE_EXHAUSTED and the
  // router retries later.
  int64_t max_queued_rows = 200'000;
};

class UsageMetering final : public MeteringApi {
 public:
  using Options = MeteringOptions;

  // `pool` may be null in a process without a database: Settle then answers FAILED_PRECONDITION.
  // Without `analytics`, the analytics RPCs answer FAILED_PRECONDITION.
  explicit UsageMetering(std::unique_ptr<db::ConnectionPool> pool, Options options = {},
                         time::Clock& clock = time::RealClock::Get(),
                         std::unique_ptr<UsageAnalytics> analytics = nullptr);
  // Finishes the writes in flight and answers the queued settlements UNAVAILABLE (the routers
  // keep and retry them).
  ~UsageMetering() override;

  void Admit(const rpc::CallContext& ctx, const v1::AdmitRequest& req,
             rpc::Done<v1::AdmitResponse> done) override;
  void Settle(const rpc::CallContext& ctx, const v1::SettleRequest& req,
              rpc::Done<v1::SettleResponse> done) override;
  absl::StatusOr<v1::SyncResponse> Sync(const rpc::CallContext& ctx,
                                        const v1::SyncRequest& req) override;
  absl::StatusOr<v1::GetBalanceResponse> GetBalance(const rpc::CallContext& ctx,
                                                    const v1::GetBalanceRequest& req) override;
  absl::StatusOr<v1::QueryUsageResponse> QueryUsage(const rpc::CallContext& ctx,
                                                    const v1::QueryUsageRequest& req) override;
  absl::StatusOr<v1::ListUsageEventsResponse> ListUsageEvents(
      const rpc::CallContext& ctx, const v1::ListUsageEventsRequest& req) override;
  void ExportUsage(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                   rpc::StreamObserver<v1::ExportUsageChunk>& observer) override;

  // Creates the partitions from the current month to months_ahead, and detaches and drops those
  // past the retention. Runs at start and daily; public for tests.
  absl::Status MaintainPartitions();

  // Charges the reservations past their time (the sweeper does it every second); public for tests.
  void ExpireReservations();

  // Reservations admitted and not yet recorded.
  int64_t open_reservations() { return ledger_.open_reservations(); }
  // True once the month's spend is loaded and the recovery grace has passed.
  bool recovered();

 private:
  // One Settle call waiting for its events to be committed. `req` stays valid until `done`.
  struct Queued {
    const v1::SettleRequest* req;
    rpc::Done<v1::SettleResponse> done;
  };

  // Loads the month's spend from the events, retrying until it can; then starts the writers.
  void Start();
  absl::Status LoadSpend();
  void WriteLoop();
  void MaintenanceLoop();
  void SweepLoop();
  // Queues the "unsettled" events of expired reservations for the writers.
  void WriteUnsettled(std::shared_ptr<const v1::SettleRequest> req);
  // Writes the settlements of `batch` in one transaction, then tells the Ledger which events were
  // recorded (and which of them were new).
  absl::Status Write(const std::vector<const v1::Settlement*>& rows);
  // Creates the monthly partition holding `month_start` unless this process knows it exists.
  absl::Status EnsurePartition(absl::Time month_start);

  std::unique_ptr<db::ConnectionPool> pool_;
  const Options options_;
  time::Clock& clock_;

  Ledger ledger_;
  const std::string incarnation_;
  // Until then, requests with limits are refused (InfiniteFuture until the spend is loaded).
  std::atomic<int64_t> recovered_at_us_;

  absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_rows_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;  // The month's spend.
  // Unsettled events a write failed for, queued again by the sweeper.
  std::vector<std::shared_ptr<const v1::SettleRequest>> unwritten_ ABSL_GUARDED_BY(mu_);

  absl::Mutex partitions_mu_;
  absl::flat_hash_set<std::string> partitions_ ABSL_GUARDED_BY(partitions_mu_);  // Known to exist.

  std::unique_ptr<BudgetAlerts> alerts_;  // With a database only.
  std::unique_ptr<UsageAnalytics> analytics_;
  std::thread starter_;
  std::vector<std::thread> writers_;
  std::thread maintenance_;
  std::thread sweeper_;
};

}  // namespace aimarket::usage
