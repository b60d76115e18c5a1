#pragma once

// Usage analytics for usage-metering: grouped usage from the daily rollups (usage_daily), the raw
// events page by page, and CSV exports of either streamed from a database cursor. The caller's key
// decides what it may read: its own team's usage (every role), or every team's for the platform
// admin; another team's is NOT_FOUND, as in the teams API (docs/usage.md).
//
// Analytics never slow the data plane: they hold their own connections (never the event writers'),
// and exports run on their own threads (at nice 10, below the data plane's), each fetching from its
// cursor only as fast as its client
// reads (CallContext::flow), with every statement under a timeout. An export whose client reads
// nothing for `export_stall_timeout`, or goes away, ends and gives its connection back.

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aimarket/common/v1/principal.pb.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "common/db/pool.h"
#include "common/rpc/call_context.h"
#include "common/thread/worker_pool.h"
#include "services/team_management/team_api.h"

namespace aimarket::usage {

struct AnalyticsOptions {
  // The longest range of a query, an events list or an export.
  int max_days = 366;
  // Groups one QueryUsage answers at most (an export has no bound).
  int max_rows = 10'000;
  // Exports running at once; as many more may wait for a thread, beyond which RESOURCE_EXHAUSTED.
  int export_threads = 2;
  // A client that takes nothing of its export for this long ends it.
  absl::Duration export_stall_timeout = absl::Minutes(1);
  // Rows per FETCH, and the CSV bytes gathered into one chunk.
  int fetch_rows = 2'000;
  size_t chunk_bytes = 64 << 10;
};

class UsageAnalytics {
 public:
  // `pool`: the analytics' own connections (with a statement timeout). `auth` authenticates
  // callers (team-management, here or a peer); it outlives this.
  UsageAnalytics(std::unique_ptr<db::ConnectionPool> pool, team::TeamApi& auth,
                 AnalyticsOptions options = {});
  // Ends the exports in flight (their clients get a cut stream) and waits for them.
  ~UsageAnalytics();

  // Blocking (database): call from a worker thread. `balance` of the answer is left to the caller.
  absl::StatusOr<v1::QueryUsageResponse> Query(const rpc::CallContext& ctx,
                                               const v1::QueryUsageRequest& req);
  absl::StatusOr<v1::ListUsageEventsResponse> ListEvents(const rpc::CallContext& ctx,
                                                         const v1::ListUsageEventsRequest& req);
  // Returns at once; the export runs on an export thread. `req` and `observer` as
  // MeteringApi::ExportUsage.
  void Export(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
              rpc::StreamObserver<v1::ExportUsageChunk>& observer);

  // Whether `p` may read `team`'s usage ("" : across teams): NOT_FOUND for another team's,
  // PERMISSION_DENIED across teams for a team's key.
  static absl::Status MayRead(const common::v1::Principal& p, const std::string& team);

 private:
  absl::Status RunExport(const rpc::CallContext& ctx, const v1::ExportUsageRequest& req,
                         rpc::StreamObserver<v1::ExportUsageChunk>& observer);

  std::unique_ptr<db::ConnectionPool> pool_;
  team::TeamApi& auth_;
  const AnalyticsOptions options_;
  std::atomic<int> exports_{0};  // Running or waiting for a thread.
  std::atomic<bool> stopping_{false};
  std::unique_ptr<thread::WorkerPool> export_threads_;  // Last: joined first.
};

}  // namespace aimarket::usage
