// The usage routes' time parameters: dates and RFC 3339, nothing else.

#include "services/edge/usage_routes.h"

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"

namespace aimarket::edge {
namespace {

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(UsageRoutesTest, TimesAreDatesOrRfc3339) {
  EXPECT_EQ(*ParseTimeParam("2026-11-01", "start"), Utc(2026, 11, 1));
  EXPECT_EQ(*ParseTimeParam("2026-11-01T10:20:30Z", "start"), Utc(2026, 11, 1, 10, 20, 30));
  EXPECT_EQ(*ParseTimeParam("2026-11-01T10:20:30+02:00", "start"), Utc(2026, 11, 1, 8, 20, 30));
  EXPECT_EQ(*ParseTimeParam("2026-11-01T00:00:00.5Z", "start"),
            Utc(2026, 11, 1) + absl::Milliseconds(500));
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-11-31", "2026-11-1", "1764547200",
                          "2026-11-01 10:00:00", "2026-11-01T10:00:00", "2026-11-01Tx"}) {
    absl::StatusOr<absl::Time> t = ParseTimeParam(bad, "end");
    EXPECT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace aimarket::edge
