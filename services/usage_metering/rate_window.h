#pragma once

// A sliding window over a counted quantity (requests, tokens): how much happened in the last
// `window`, kept in `slices` equal slices of it.
//
// Conservative by design: an amount leaves the count only once the whole slice it fell in is
// older than the window (at most one slice late), never early. So for any limit L, checking
// `Count(now) + n <= L` before adding n admits at most L in every window of that length, wherever
// the window starts; a fixed window would let 2·L through across a boundary. The price is that a
// refused caller may wait up to one slice longer than an exact log would make it (1 s for a
// minute in 60 slices). Counting is O(1) amortized: a running total, from which slices are taken
// out as they leave the window.

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace aimarket::usage {

class RateWindow {
 public:
  RateWindow(absl::Duration window, int slices);

  // What the window holds at `now` (not earlier than any `now` given before).
  int64_t Count(absl::Time now);
  // Adds `n` at `at` (usually now). A negative `n` corrects an earlier addition at the same `at`
  // (an estimate that turned out high); it is dropped when that slice has left the window.
  void Add(absl::Time at, int64_t n);
  // How long after `now` the window leaves room for `n` more under `limit`: zero when it does
  // already, InfiniteDuration when `n` alone exceeds `limit`.
  absl::Duration UntilFits(absl::Time now, int64_t n, int64_t limit);
  // How long after `now` the window holds nothing of what it holds now.
  absl::Duration UntilEmpty(absl::Time now);

 private:
  struct Slice {
    int64_t index = -1;  // Whole slices since the epoch; -1 when unused.
    int64_t count = 0;
  };
  int64_t IndexOf(absl::Time t) const;
  // Takes out the slices that have left the window at `now`.
  void Advance(absl::Time now);
  // When the slice `index` leaves the count.
  absl::Time LeavesAt(int64_t index) const;

  const absl::Duration slice_;
  const int64_t slices_;     // Per window.
  std::vector<Slice> ring_;  // slices_ + 1: a window straddles that many.
  int64_t total_ = 0;        // Of the slices in the ring not yet taken out.
  int64_t expired_ = 0;      // Every slice before this index has been taken out.
  int64_t newest_ = -1;      // The newest slice added to.
};

}  // namespace aimarket::usage
