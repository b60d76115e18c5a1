#pragma once

// A Clock that only moves when told to. Threads blocked in SleepUntil wake when Advance() or
// SetTime() moves the time past their deadline.
//
//   FakeClock clock(absl::FromUnixSeconds(1700000000));
//   clock.Advance(absl::Seconds(5));

#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"

namespace aimarket::time {

// Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  void SleepUntil(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    auto reached = [this, deadline]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return now_ >= deadline; };
    mu_.Await(absl::Condition(&reached));
  }

  // Moves time forward by `d` (a negative `d` is ignored: time never goes back).
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    if (d > absl::ZeroDuration()) now_ += d;
  }

  // Sets the time; ignored if `t` is earlier than now.
  void SetTime(absl::Time t) {
    absl::MutexLock lock(&mu_);
    if (t > now_) now_ = t;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::time
