#pragma once

// usage-metering's logic: admission (reservations held in memory; budgets and rate limits come
// with the budget issue) and settlement into durable usage events in Postgres. Never sees gRPC.
//
// Admit records a reservation for the request (its worst-case cost) and admits it. Settle hands
// its settlements to the event writer and answers once they are committed (docs/usage.md):
// writer threads take whatever settlements have queued up (from every router) and write them in
// one transaction, COPY into a temporary staging table and then
//   INSERT INTO usage_events SELECT ... FROM staging ON CONFLICT DO NOTHING
// so a settlement retried with the same request id and start time is recorded once. The
// reservations of committed settlements are released. Monthly partitions are created ahead of
// time (and on demand for an event of a month without one); those past `retention_months` are
// detached and dropped by a maintenance thread.
//
// QueryUsage and ExportUsage answer UNIMPLEMENTED until the analytics issue.

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
#include "services/usage_metering/metering_api.h"

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
  // A reservation whose settlement never comes (its router died) is forgotten after this.
  absl::Duration reservation_ttl = absl::Hours(2);
  // Settlements queued for writing at most; beyond it Settle answers RESOURCE_EXHAUSTED and the
  // router retries later.
  int64_t max_queued_rows = 200'000;
};

class UsageMetering final : public MeteringApi {
 public:
  using Options = MeteringOptions;

  // `pool` may be null in a process without a database: Settle then answers FAILED_PRECONDITION.
  explicit UsageMetering(std::unique_ptr<db::ConnectionPool> pool, Options options = {},
                         time::Clock& clock = time::RealClock::Get());
  // Finishes the writes in flight and answers the queued settlements UNAVAILABLE (the routers
  // keep and retry them).
  ~UsageMetering() override;

  void Admit(const rpc::CallContext& ctx, const v1::AdmitRequest& req,
             rpc::Done<v1::AdmitResponse> done) override;
  void Settle(const rpc::CallContext& ctx, const v1::SettleRequest& req,
              rpc::Done<v1::SettleResponse> done) override;
  absl::StatusOr<v1::QueryUsageResponse> QueryUsage(const rpc::CallContext& ctx,
                                                    const v1::QueryUsageRequest& req) override;
  void ExportUsage(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                   rpc::StreamObserver<v1::ExportUsageChunk>& observer) override;

  // Creates the partitions from the current month to months_ahead, and detaches and drops those
  // past the retention. Runs at start and daily; public for tests.
  absl::Status MaintainPartitions();

  // Reservations admitted and not yet settled.
  int64_t open_reservations();

 private:
  struct Reservation {
    int64_t nanos = 0;
    absl::Time since;
  };
  // One Settle call waiting for its events to be committed. `req` stays valid until `done`.
  struct Queued {
    const v1::SettleRequest* req;
    rpc::Done<v1::SettleResponse> done;
  };

  void WriteLoop();
  void MaintenanceLoop();
  // Writes the settlements of `batch` in one transaction.
  absl::Status Write(const std::vector<const v1::Settlement*>& rows);
  // Creates the monthly partition holding `month_start` unless this process knows it exists.
  absl::Status EnsurePartition(absl::Time month_start);

  std::unique_ptr<db::ConnectionPool> pool_;
  const Options options_;
  time::Clock& clock_;

  absl::Mutex reservations_mu_;
  absl::flat_hash_map<std::string, Reservation> reservations_ ABSL_GUARDED_BY(reservations_mu_);
  int64_t admits_since_sweep_ ABSL_GUARDED_BY(reservations_mu_) = 0;

  absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_rows_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex partitions_mu_;
  absl::flat_hash_set<std::string> partitions_ ABSL_GUARDED_BY(partitions_mu_);  // Known to exist.

  std::vector<std::thread> writers_;
  std::thread maintenance_;
};

}  // namespace aimarket::usage
