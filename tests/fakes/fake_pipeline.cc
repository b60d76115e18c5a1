#include "tests/fakes/fake_pipeline.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace aimarket::fakes {

void FakeAdmission::Admit(const rpc::CallContext&, const router::Ticket& ticket,
                          rpc::Done<router::Admitted> done) {
  absl::Status refusal;
  std::optional<common::v1::RateLimitStatus> rate_limits;
  {
    absl::MutexLock lock(&mu_);
    tickets_.push_back(ticket);
    if (hold_) {
      held_.emplace_back(ticket, std::move(done));
      return;
    }
    refusal = refusal_;
    rate_limits = rate_limits_;
  }
  if (!refusal.ok()) return done(refusal);
  done(router::Admitted{absl::StrCat("r-", ticket.request_id), router::WorstCaseCost(ticket),
                        rate_limits});
}

void FakeAdmission::SetRateLimits(common::v1::RateLimitStatus status) {
  absl::MutexLock lock(&mu_);
  rate_limits_ = std::move(status);
}

void FakeAdmission::Refuse(absl::Status refusal) {
  absl::MutexLock lock(&mu_);
  refusal_ = std::move(refusal);
}

void FakeAdmission::Hold() {
  absl::MutexLock lock(&mu_);
  hold_ = true;
}

void FakeAdmission::Release() {
  std::vector<std::pair<router::Ticket, rpc::Done<router::Admitted>>> held;
  {
    absl::MutexLock lock(&mu_);
    hold_ = false;
    held.swap(held_);
  }
  for (auto& [ticket, done] : held) {
    done(
        router::Admitted{absl::StrCat("r-", ticket.request_id), router::WorstCaseCost(ticket), {}});
  }
}

std::vector<router::Ticket> FakeAdmission::tickets() {
  absl::MutexLock lock(&mu_);
  return tickets_;
}

std::vector<int> FakePlanner::Plan(const router::Ticket& ticket) {
  {
    absl::MutexLock lock(&mu_);
    if (plan_) return *plan_;
  }
  return router::PriorityPlanner().Plan(ticket);
}

void FakePlanner::Script(std::vector<int> plan) {
  absl::MutexLock lock(&mu_);
  plan_ = std::move(plan);
}

void FakeSettler::Settle(usage::v1::Settlement settlement) {
  absl::MutexLock lock(&mu_);
  settled_.push_back(std::move(settlement));
}

bool FakeSettler::Accepting() {
  absl::MutexLock lock(&mu_);
  return accepting_;
}

void FakeSettler::SetAccepting(bool accepting) {
  absl::MutexLock lock(&mu_);
  accepting_ = accepting;
}

std::vector<usage::v1::Settlement> FakeSettler::settled() {
  absl::MutexLock lock(&mu_);
  return settled_;
}

}  // namespace aimarket::fakes
