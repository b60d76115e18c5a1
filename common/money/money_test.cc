#include "common/money/money.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::money {
namespace {

TEST(MoneyTest, DollarsConvertToNanosOnce) {
  EXPECT_EQ(Usd::FromDollars(12.5)->nanos(), 12'500'000'000);
  EXPECT_EQ(Usd::FromDollars(0.000000001)->nanos(), 1);
  EXPECT_EQ(Usd::FromDollars(0)->nanos(), 0);
  // Doubles that are not exact still land on the intended nano-dollar.
  EXPECT_EQ(Usd::FromDollars(0.1)->nanos(), 100'000'000);
  EXPECT_EQ(PerMtok::FromDollars(0.15)->nanos(), 150'000'000);
  EXPECT_EQ(PerMtok::FromDollars(0.0375)->nanos(), 37'500'000);
}

TEST(MoneyTest, BadDollarsAreRefused) {
  EXPECT_FALSE(Usd::FromDollars(-1).ok());
  EXPECT_FALSE(Usd::FromDollars(std::numeric_limits<double>::quiet_NaN()).ok());
  EXPECT_FALSE(Usd::FromDollars(std::numeric_limits<double>::infinity()).ok());
  EXPECT_FALSE(Usd::FromDollars(2e9).ok());
  EXPECT_FALSE(PerMtok::FromDollars(-0.01).ok());
}

TEST(MoneyTest, DecimalRoundTrips) {
  for (const char* text : {"0", "12.5", "0.0000015", "0.000000001", "1000000000", "3.25"}) {
    absl::StatusOr<Usd> amount = Usd::FromDecimal(text);
    ASSERT_TRUE(amount.ok()) << text;
    EXPECT_EQ(amount->ToDecimal(), text);
  }
  EXPECT_EQ(Usd::FromDecimal("12.50")->nanos(), 12'500'000'000);
  EXPECT_EQ(Usd::Nanos(-1500).ToDecimal(), "-0.0000015");
  EXPECT_EQ(Usd::Nanos(std::numeric_limits<int64_t>::min()).ToDecimal(), "-9223372036.854775808");
  for (const char* bad :
       {"", ".5", "1.", "1.0000000001", "-1", "1e3", "1,5", "1000000000.1", "99999999999", " 1"}) {
    EXPECT_FALSE(Usd::FromDecimal(bad).ok()) << bad;
  }
}

TEST(MoneyTest, TenTokensAtFifteenCentsPerMillionAreNotFree) {
  // 10 × $0.15 / 1M = $0.0000015 = 1,500 nano-dollars.
  EXPECT_EQ(CostOf({{10, *PerMtok::FromDollars(0.15)}}).nanos(), 1'500);
  // One token at $0.01 per million: 10 nano-dollars.
  EXPECT_EQ(CostOf({{1, *PerMtok::FromDollars(0.01)}}).nanos(), 10);
}

TEST(MoneyTest, CostRoundsUpOnceForTheWholeRequest) {
  // 1 token at 1 nano-dollar per million tokens: a millionth of a nano-dollar, rounded up to 1.
  EXPECT_EQ(CostOf({{1, PerMtok::Nanos(1)}}).nanos(), 1);
  // Three parts of 0.4 nano-dollars each: 1.2, rounded up once to 2 (not 3).
  EXPECT_EQ(CostOf({{400'000, PerMtok::Nanos(1)},
                    {400'000, PerMtok::Nanos(1)},
                    {400'000, PerMtok::Nanos(1)}})
                .nanos(),
            2);
  EXPECT_EQ(CostOf({}).nanos(), 0);
  EXPECT_EQ(CostOf({{-5, PerMtok::Nanos(1'000'000)}}).nanos(), 0);
}

TEST(MoneyTest, HugeCountsSaturateInsteadOfOverflowing) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(CostOf({{max, PerMtok::Nanos(max)}}).nanos(), max);
  // 2^31 tokens at $1000 per million: $2,147,483.648, exact.
  EXPECT_EQ(CostOf({{int64_t{1} << 31, *PerMtok::FromDollars(1000)}}).ToDecimal(), "2147483.648");
}

TEST(MoneyTest, Arithmetic) {
  Usd a = Usd::Nanos(5);
  a += Usd::Nanos(7);
  EXPECT_EQ(a, Usd::Nanos(12));
  EXPECT_LT(a - Usd::Nanos(13), Usd());
}

}  // namespace
}  // namespace aimarket::money
