#pragma once

// An injectable source of time (after absl's Clock and Envoy's TimeSource). Only RealClock reads
// the system clock; tests use FakeClock and advance it by hand.

#include "absl/time/time.h"

namespace aimarket::time {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Blocks the calling thread until Now() >= deadline.
  virtual void SleepUntil(absl::Time deadline) = 0;
};

class RealClock final : public Clock {
 public:
  // The process-wide instance.
  static RealClock& Get();
  absl::Time Now() override;
  void SleepUntil(absl::Time deadline) override;
};

}  // namespace aimarket::time
