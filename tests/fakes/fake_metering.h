#pragma once

// A MeteringApi that admits every request unless told to refuse a team, and keeps what it was
// asked. With `answer_delay` above zero it answers Admit later, from a thread of its own, as a
// remote shard would; otherwise on the caller's thread. The analytics RPCs answer
// UNIMPLEMENTED (the real ones run against Postgres in tests/integration).
//
//   fakes::FakeMetering metering;
//   metering.Refuse("teams/over", status::Error(kResourceExhausted, "TEAM_BUDGET_EXCEEDED", "no"));

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::fakes {

class FakeMetering final : public usage::MeteringApi {
 public:
  ~FakeMetering() override;  // Joins the answering threads.

  // Admit answers `refusal` for requests of `team` ("teams/{id}").
  void Refuse(const std::string& team, absl::Status refusal);
  // What Admit, Settle and Sync answer as metering's incarnation ("fake-1" at first): a new one
  // acts a restart.
  void SetIncarnation(std::string incarnation);

  void Admit(const rpc::CallContext& ctx, const usage::v1::AdmitRequest& req,
             rpc::Done<usage::v1::AdmitResponse> done) override;
  void Settle(const rpc::CallContext& ctx, const usage::v1::SettleRequest& req,
              rpc::Done<usage::v1::SettleResponse> done) override;
  absl::StatusOr<usage::v1::SyncResponse> Sync(const rpc::CallContext& ctx,
                                               const usage::v1::SyncRequest& req) override;
  absl::StatusOr<usage::v1::GetBalanceResponse> GetBalance(
      const rpc::CallContext& ctx, const usage::v1::GetBalanceRequest& req) override;
  absl::StatusOr<usage::v1::QueryUsageResponse> QueryUsage(
      const rpc::CallContext& ctx, const usage::v1::QueryUsageRequest& req) override;
  absl::StatusOr<usage::v1::ListUsageEventsResponse> ListUsageEvents(
      const rpc::CallContext& ctx, const usage::v1::ListUsageEventsRequest& req) override;
  void ExportUsage(rpc::CallContext ctx, const usage::v1::ExportUsageRequest& req,
                   rpc::StreamObserver<usage::v1::ExportUsageChunk>& observer) override;

  std::vector<usage::v1::AdmitRequest> admitted();
  std::vector<usage::v1::Settlement> settled();
  std::vector<usage::v1::SyncRequest> synced();

  absl::Duration answer_delay = absl::ZeroDuration();
  // The next this-many Settle calls fail (UNAVAILABLE) and record nothing.
  std::atomic<int> failing_settles{0};

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Status> refusals_ ABSL_GUARDED_BY(mu_);
  std::vector<usage::v1::AdmitRequest> admitted_ ABSL_GUARDED_BY(mu_);
  std::vector<usage::v1::Settlement> settled_ ABSL_GUARDED_BY(mu_);
  std::vector<usage::v1::SyncRequest> synced_ ABSL_GUARDED_BY(mu_);
  std::string incarnation_ ABSL_GUARDED_BY(mu_) = "fake-1";
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::fakes
