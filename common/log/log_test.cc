#include "common/log/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::log {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LogTest, FormatsOneJsonObject) {
  SetProcessName("router");
  const std::string line =
      Format(Level::kWarn, "upstream \"slow\"\n", {{"request_id", "req_1"}, {"attempt", 2}});
  EXPECT_EQ(
      line,
      R"("level":"warn","msg":"upstream \"slow\"\n","request_id":"req_1","attempt":2,"service":"router"})");
}

TEST(LogTest, SecretsAreRedactedWhateverTheValue) {
  const std::string line =
      Format(Level::kInfo, "x",
             {{"authorization", "Bearer sk-live-123"}, {"prompt", "tell me"}, {"api_key", "k"}});
  EXPECT_THAT(line, Not(HasSubstr("sk-live-123")));
  EXPECT_THAT(line, Not(HasSubstr("tell me")));
  EXPECT_THAT(line, HasSubstr(R"("authorization":"[redacted]")"));
  EXPECT_THAT(line, HasSubstr(R"("prompt":"[redacted]")"));
}

TEST(LogTest, ControlCharactersAreEscaped) {
  const std::string line = Format(Level::kInfo, std::string("a\x01z", 3), {});
  EXPECT_THAT(line, HasSubstr(R"(a\u0001z)"));
}

TEST(LogTest, Levels) {
  EXPECT_TRUE(SetLevel("debug"));
  EXPECT_TRUE(SetLevel("error"));
  EXPECT_FALSE(SetLevel("chatty"));
  EXPECT_TRUE(SetLevel("info"));
}

}  // namespace
}  // namespace aimarket::log
