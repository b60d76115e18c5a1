#include "services/usage_metering/rate_window.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace aimarket::usage {
namespace {

// The running total against a plain sum over every addition, through random additions,
// corrections and clock steps: the same count, the same waits.
TEST(RateWindowTest, TheRunningTotalIsThePlainSum) {
  RateWindow w(absl::Minutes(1), 60);
  std::map<int64_t, int64_t> by_second;  // Slice (second) -> amount.
  int64_t newest = -1;  // The last second anything was added in (a correction does not move it).
  std::mt19937 random(7);
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  for (int step = 0; step < 20000; ++step) {
    now += absl::Milliseconds(random() % 3000);
    const int64_t n = random() % 5;
    w.Add(now, n);
    by_second[absl::ToUnixSeconds(now)] += n;
    if (n > 0) newest = absl::ToUnixSeconds(now);
    if (random() % 4 == 0 && n > 0) {  // A correction of this very addition.
      w.Add(now, -1);
      by_second[absl::ToUnixSeconds(now)] -= 1;
    }
    int64_t sum = 0;
    for (const auto& [second, amount] : by_second) {
      if (second >= absl::ToUnixSeconds(now) - 60) sum += amount;
    }
    ASSERT_EQ(w.Count(now), sum) << "step " << step;
    const absl::Duration empty = w.UntilEmpty(now);
    if (sum == 0) {
      EXPECT_EQ(empty, absl::ZeroDuration());
    } else {
      EXPECT_EQ(empty, absl::FromUnixSeconds(newest + 61) - now) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace aimarket::usage
