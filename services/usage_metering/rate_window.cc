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

void RateWindow::Advance(absl::Time now) {
  const int64_t cutoff = IndexOf(now) - slices_;  // The oldest slice still counted.
  if (cutoff <= expired_) return;
  const int64_t size = static_cast<int64_t>(ring_.size());
  auto take_out = [this, cutoff](Slice& s) {
    if (s.index >= 0 && s.index < cutoff) {
      total_ -= s.count;
      s = Slice{};
    }
  };
  if (cutoff - expired_ >= size) {
    for (Slice& s : ring_) take_out(s);
  } else {
    for (int64_t i = expired_; i < cutoff; ++i) take_out(ring_[static_cast<size_t>(i % size)]);
  }
  expired_ = cutoff;
}

int64_t RateWindow::Count(absl::Time now) {
  Advance(now);
  return total_;
}

void RateWindow::Add(absl::Time at, int64_t n) {
  const int64_t index = IndexOf(at);
  if (index < expired_) return;  // That slice has left the window.
  Slice& s = ring_[static_cast<size_t>(index % static_cast<int64_t>(ring_.size()))];
  if (s.index == index) {
    s.count += n;
    total_ += n;
  } else if (index > s.index && n > 0) {
    total_ += n - s.count;  // The slot's earlier slice has left the window.
    s = Slice{index, n};
  } else {
    return;
  }
  if (n > 0) newest_ = std::max(newest_, index);
}

absl::Duration RateWindow::UntilFits(absl::Time now, int64_t n, int64_t limit) {
  if (n > limit) return absl::InfiniteDuration();
  int64_t excess = Count(now) + n - limit;
  if (excess <= 0) return absl::ZeroDuration();
  std::vector<Slice> live;
  for (const Slice& s : ring_) {
    if (s.index >= expired_ && s.count != 0) live.push_back(s);
  }
  std::sort(live.begin(), live.end(),
            [](const Slice& a, const Slice& b) { return a.index < b.index; });
  for (const Slice& s : live) {
    excess -= s.count;
    if (excess <= 0) return LeavesAt(s.index) - now;
  }
  return UntilEmpty(now);
}

absl::Duration RateWindow::UntilEmpty(absl::Time now) {
  if (Count(now) <= 0 || newest_ < expired_) return absl::ZeroDuration();
  return LeavesAt(newest_) - now;
}

}  // namespace aimarket::usage
