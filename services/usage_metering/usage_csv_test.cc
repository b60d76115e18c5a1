// CSV as RFC 4180 writes it, with a spreadsheet's formulas defused; exact milliseconds.

#include "services/usage_metering/usage_csv.h"

#include "gtest/gtest.h"

namespace aimarket::usage::csv {
namespace {

std::string Field(absl::string_view text) {
  std::string out;
  Text(text, out);
  return out;
}

TEST(UsageCsvTest, FieldsAreQuotedOnlyWhenTheyMustBe) {
  EXPECT_EQ(Field("gpt-4o"), "gpt-4o");
  EXPECT_EQ(Field(""), "");
  EXPECT_EQ(Field("a,b"), "\"a,b\"");
  EXPECT_EQ(Field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(Field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(Field("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(Field("ünïcödé"), "ünïcödé");
}

TEST(UsageCsvTest, WhatASpreadsheetWouldRunIsPrefixed) {
  EXPECT_EQ(Field("=1+1"), "'=1+1");
  EXPECT_EQ(Field("+1"), "'+1");
  EXPECT_EQ(Field("-1"), "'-1");
  EXPECT_EQ(Field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(Field("\tx"), "'\tx");
  EXPECT_EQ(Field("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  EXPECT_EQ(Field("\r=x"), "\"'\r=x\"");
  // Only at the start.
  EXPECT_EQ(Field("a=b"), "a=b");
  EXPECT_EQ(Field("team-1"), "team-1");
}

TEST(UsageCsvTest, MillisecondsAreExact) {
  EXPECT_EQ(Millis(0), "0.000");
  EXPECT_EQ(Millis(1), "0.001");
  EXPECT_EQ(Millis(1'234'567), "1234.567");
  EXPECT_EQ(MeanMillis(0, 0), "");
  EXPECT_EQ(MeanMillis(3'000, 2), "1.500");
  EXPECT_EQ(MeanMillis(2, 3), "0.001");  // 0.667 µs rounds to 1.
}

TEST(UsageCsvTest, RowsEndInCrLfWithMoneyInDollars) {
  std::string out;
  UsageHeader({"day", "cost_center"}, out);
  v1::UsageTotals t;
  t.set_requests(3);
  t.set_cost_nano_usd(1'500);
  t.set_latency_us(3'000);
  UsageRow({"2026-12-01", "=x, y"}, t, out);
  EXPECT_EQ(out,
            "day,cost_center,requests,errors,cancelled,prompt_tokens,cached_tokens,"
            "cache_write_tokens,completion_tokens,reasoning_tokens,cost_usd,avg_latency_ms,"
            "avg_ttft_ms\r\n"
            "2026-12-01,\"'=x, y\",3,0,0,0,0,0,0,0,0.0000015,1.000,\r\n");
}

}  // namespace
}  // namespace aimarket::usage::csv
