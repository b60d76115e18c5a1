#include "tests/fakes/fake_metering.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace aimarket::fakes {

FakeMetering::~FakeMetering() {
  absl::MutexLock lock(&mu_);
  for (std::thread& t : threads_) t.join();
}

void FakeMetering::Refuse(const std::string& team, absl::Status refusal) {
  absl::MutexLock lock(&mu_);
  refusals_[team] = std::move(refusal);
}

void FakeMetering::SetIncarnation(std::string incarnation) {
  absl::MutexLock lock(&mu_);
  incarnation_ = std::move(incarnation);
}

void FakeMetering::Admit(const rpc::CallContext&, const usage::v1::AdmitRequest& req,
                         rpc::Done<usage::v1::AdmitResponse> done) {
  absl::StatusOr<usage::v1::AdmitResponse> answer;
  {
    absl::MutexLock lock(&mu_);
    admitted_.push_back(req);
    if (auto it = refusals_.find(req.team()); it != refusals_.end()) {
      answer = it->second;
    } else {
      usage::v1::AdmitResponse resp;
      resp.set_reservation_id(absl::StrCat("r-", req.request_id()));
      resp.set_incarnation(incarnation_);
      answer = std::move(resp);
    }
  }
  if (answer_delay <= absl::ZeroDuration()) return done(std::move(answer));
  absl::MutexLock lock(&mu_);
  threads_.emplace_back(
      [delay = answer_delay, answer = std::move(answer), done = std::move(done)]() mutable {
        absl::SleepFor(delay);
        done(std::move(answer));
      });
}

void FakeMetering::Settle(const rpc::CallContext&, const usage::v1::SettleRequest& req,
                          rpc::Done<usage::v1::SettleResponse> done) {
  if (failing_settles.load() > 0) {
    failing_settles.fetch_sub(1);
    return done(absl::UnavailableError("metering unreachable (scripted)"));
  }
  usage::v1::SettleResponse resp;
  {
    absl::MutexLock lock(&mu_);
    settled_.insert(settled_.end(), req.settlements().begin(), req.settlements().end());
    resp.set_incarnation(incarnation_);
  }
  done(std::move(resp));
}

absl::StatusOr<usage::v1::SyncResponse> FakeMetering::Sync(const rpc::CallContext&,
                                                           const usage::v1::SyncRequest& req) {
  absl::MutexLock lock(&mu_);
  synced_.push_back(req);
  usage::v1::SyncResponse resp;
  resp.set_incarnation(incarnation_);
  return resp;
}

absl::StatusOr<usage::v1::GetBalanceResponse> FakeMetering::GetBalance(
    const rpc::CallContext&, const usage::v1::GetBalanceRequest&) {
  return usage::v1::GetBalanceResponse();
}

std::vector<usage::v1::SyncRequest> FakeMetering::synced() {
  absl::MutexLock lock(&mu_);
  return synced_;
}

absl::StatusOr<usage::v1::QueryUsageResponse> FakeMetering::QueryUsage(
    const rpc::CallContext&, const usage::v1::QueryUsageRequest&) {
  return absl::UnimplementedError("FakeMetering keeps no usage");
}

absl::StatusOr<usage::v1::ListUsageEventsResponse> FakeMetering::ListUsageEvents(
    const rpc::CallContext&, const usage::v1::ListUsageEventsRequest&) {
  return absl::UnimplementedError("FakeMetering keeps no usage");
}

void FakeMetering::ExportUsage(rpc::CallContext, const usage::v1::ExportUsageRequest&,
                               rpc::StreamObserver<usage::v1::ExportUsageChunk>& observer) {
  observer.OnComplete(absl::UnimplementedError("FakeMetering keeps no usage"));
}

std::vector<usage::v1::AdmitRequest> FakeMetering::admitted() {
  absl::MutexLock lock(&mu_);
  return admitted_;
}

std::vector<usage::v1::Settlement> FakeMetering::settled() {
  absl::MutexLock lock(&mu_);
  return settled_;
}

}  // namespace aimarket::fakes
