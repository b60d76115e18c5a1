#pragma once

// The C++ API of usage-metering: implemented by UsageMetering (in process) and by the gRPC client
// from NewMeteringGrpcClient (a peer in another process).

#include "absl/status/statusor.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "common/rpc/call_context.h"

namespace aimarket::usage {

// One account's limits (a team's or a key's), as plain integers: 0 means none. Under none
// (!any()), a team or key is never refused, not even while a restarted metering recovers, and
// the router's book does not hold its requests.
struct Limits {
  int64_t monthly_budget_nanos = 0;
  int64_t requests_per_minute = 0;
  int64_t requests_per_day = 0;
  int64_t tokens_per_minute = 0;
  int64_t max_parallel_requests = 0;

  static Limits Of(int64_t monthly_budget_nanos, const common::v1::RateLimits& r) {
    return {monthly_budget_nanos, r.requests_per_minute(), r.requests_per_day(),
            r.tokens_per_minute(), r.max_parallel_requests()};
  }
  bool any() const {
    return monthly_budget_nanos > 0 || requests_per_minute > 0 || requests_per_day > 0 ||
           tokens_per_minute > 0 || max_parallel_requests > 0;
  }
};

// Thread-safe.
class MeteringApi {
 public:
  virtual ~MeteringApi() = default;
  // Internal. Takes rate-limit tokens and reserves budget, in memory. RESOURCE_EXHAUSTED (with
  // a retry-after) when a limit or the budget would be exceeded. Asynchronous: the router calls
  // it on the edge's I/O thread, which must never wait for a remote shard; `done` runs exactly
  // once, on any thread, and must not block.
  virtual void Admit(const rpc::CallContext& ctx, const v1::AdmitRequest& req,
                     rpc::Done<v1::AdmitResponse> done) = 0;
  // Internal. Records a batch of actual usage and releases the reservations; idempotent by
  // request id. Asynchronous like Admit.
  virtual void Settle(const rpc::CallContext& ctx, const v1::SettleRequest& req,
                      rpc::Done<v1::SettleResponse> done) = 0;
  // Internal. A router's reservations (in full when `full`), or its heartbeat; the answer says
  // metering's incarnation. Cheap and non-blocking.
  virtual absl::StatusOr<v1::SyncResponse> Sync(const rpc::CallContext& ctx,
                                                const v1::SyncRequest& req) = 0;
  // Internal. The team's month: spend, reservations and what remains, for it and its keys.
  virtual absl::StatusOr<v1::GetBalanceResponse> GetBalance(const rpc::CallContext& ctx,
                                                            const v1::GetBalanceRequest& req) = 0;
  // Usage analytics (the caller's key decides what it may read). Blocking: call from a worker
  // thread.
  virtual absl::StatusOr<v1::QueryUsageResponse> QueryUsage(const rpc::CallContext& ctx,
                                                            const v1::QueryUsageRequest& req) = 0;
  virtual absl::StatusOr<v1::ListUsageEventsResponse> ListUsageEvents(
      const rpc::CallContext& ctx, const v1::ListUsageEventsRequest& req) = 0;
  // Streams CSV chunks, only as fast as ctx.flow takes them; see rpc::StreamObserver for the
  // contract. Returns at once. `req` must outlive OnComplete.
  virtual void ExportUsage(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                           rpc::StreamObserver<v1::ExportUsageChunk>& observer) = 0;
};

}  // namespace aimarket::usage
