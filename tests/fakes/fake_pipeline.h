#pragma once

// Fakes of the router's three pipeline seams (services/router/dispatch.h), for tests of the
// pipeline itself and of what later fills the seams:
//
//   fakes::FakeAdmission admission;   // admits, records each ticket; can refuse or hold answers
//   fakes::FakePlanner planner;       // the config's order, or a scripted plan
//   fakes::FakeSettler settler;       // records settlements; can stop accepting
//   router::Dispatcher dispatcher(admission, planner, settler, provider, clock);

#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "services/router/dispatch.h"

namespace aimarket::fakes {

class FakeAdmission final : public router::Admission {
 public:
  void Admit(const rpc::CallContext& ctx, const router::Ticket& ticket,
             rpc::Done<router::Admitted> done) override;

  // Every later Admit answers `refusal`.
  void Refuse(absl::Status refusal);
  // Every later admission carries `status` (as metering's does when rate limits apply).
  void SetRateLimits(common::v1::RateLimitStatus status);
  // Every later Admit waits for Release() instead of answering at once.
  void Hold();
  // Answers the held admissions (on the caller's thread) and stops holding.
  void Release();

  std::vector<router::Ticket> tickets();

 private:
  absl::Mutex mu_;
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);
  std::optional<common::v1::RateLimitStatus> rate_limits_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<router::Ticket, rpc::Done<router::Admitted>>> held_ ABSL_GUARDED_BY(mu_);
  std::vector<router::Ticket> tickets_ ABSL_GUARDED_BY(mu_);
};

class FakePlanner final : public router::Planner {
 public:
  // The scripted plan, or else every deployment in the config's order.
  std::vector<int> Plan(const router::Ticket& ticket) override;
  void Script(std::vector<int> plan);

 private:
  absl::Mutex mu_;
  std::optional<std::vector<int>> plan_ ABSL_GUARDED_BY(mu_);
};

class FakeSettler final : public router::Settler {
 public:
  void Settle(usage::v1::Settlement settlement) override;
  bool Accepting() override;

  void SetAccepting(bool accepting);
  std::vector<usage::v1::Settlement> settled();

 private:
  absl::Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<usage::v1::Settlement> settled_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::fakes
