#include "services/usage_metering/rate_window.h"

#include <algorithm>

namespace aimarket::usage {

RateWindow::RateWindow(absl::Duration window, int slices)
    : slice_(window / std::max(slices, 1)),
      slices_(std::max(slices, 1)),
      ring_(static_cast<size_t>(slices_ + 1)) {}

int64_t RateWindow::IndexOf(absl::Time t) const {
  absl::Duration remainder;  // This absl's IDivDuration writes it unconditionally.
  return absl::IDivDuration(t - absl::UnixEpoch(), slice_, &remainder);
}

absl::Time RateWindow::LeavesAt(int64_t index) const {
  // The window (t − window, t] touches slices IndexOf(t) − slices_ … IndexOf(t).
  return absl::UnixEpoch() + slice_ * (index + slices_ + 1);
}

int64_t RateWindow::Count(absl::Time now) const {
  const int64_t oldest = IndexOf(now) - slices_;
  int64_t sum = 0;
  for (const Slice& s : ring_) {
    if (s.index >= oldest) sum += s.count;
  }
  return sum;
}

void RateWindow::Add(absl::Time at, int64_t n) {
  const int64_t index = IndexOf(at);
  Slice& s = ring_[static_cast<size_t>(index % static_cast<int64_t>(ring_.size()))];
  if (s.index == index) {
    s.count += n;
  } else if (index > s.index && n > 0) {
    s = Slice{index, n};  // The slot's earlier slice has left the window.
  }
}

absl::Duration RateWindow::UntilFits(absl::Time now, int64_t n, int64_t limit) const {
  if (n > limit) return absl::InfiniteDuration();
  int64_t excess = Count(now) + n - limit;
  if (excess <= 0) return absl::ZeroDuration();
  const int64_t oldest = IndexOf(now) - slices_;
  std::vector<Slice> live;
  for (const Slice& s : ring_) {
    if (s.index >= oldest && s.count != 0) live.push_back(s);
  }
  std::sort(live.begin(), live.end(),
            [](const Slice& a, const Slice& b) { return a.index < b.index; });
  for (const Slice& s : live) {
    excess -= s.count;
    if (excess <= 0) return LeavesAt(s.index) - now;
  }
  return UntilEmpty(now);
}

absl::Duration RateWindow::UntilEmpty(absl::Time now) const {
  const int64_t oldest = IndexOf(now) - slices_;
  int64_t newest = -1;
  for (const Slice& s : ring_) {
    if (s.index >= oldest && s.count > 0) newest = std::max(newest, s.index);
  }
  return newest < 0 ? absl::ZeroDuration() : LeavesAt(newest) - now;
}

}  // namespace aimarket::usage
