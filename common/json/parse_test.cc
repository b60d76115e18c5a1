#include "common/json/parse.h"

#include <string>

#include "common/json/json_escape.h"
#include "common/status/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::json {
namespace {

using ::testing::HasSubstr;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

absl::Status ParseText(absl::string_view text) {
  rapidjson::Document d;
  return Parse(d, text);
}

TEST(JsonParseTest, DepthIsBoundedWithoutRecursingIntoTheText) {
  EXPECT_TRUE(ParseText(Nested(kMaxDepth)).ok());
  const absl::Status deep = ParseText(Nested(kMaxDepth + 1));
  EXPECT_EQ(deep.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(deep.message(), HasSubstr("deeper than 64"));
  EXPECT_EQ(status::GetErrorInfo(deep)->reason(), "INVALID_JSON");
  // Far past any stack: refused at level 65, not parsed down to the bottom.
  EXPECT_FALSE(ParseText(std::string(1'000'000, '[')).ok());
  EXPECT_FALSE(ParseText(std::string(500'000, '{')).ok());
  std::string objects;
  for (int i = 0; i < 200'000; ++i) objects += R"({"a":)";
  EXPECT_THAT(ParseText(objects).message(), HasSubstr("deeper than"));
  // Upstream bodies get the same bound.
  rapidjson::Document d;
  EXPECT_FALSE(ParseBounded(d, std::string(1'000'000, '[')));
  EXPECT_TRUE(d.IsNull());
}

TEST(JsonParseTest, DuplicateKeysAtAnyDepthAreRefused) {
  EXPECT_THAT(ParseText(R"({"model":"a","model":"b"})").message(),
              HasSubstr("\"model\" appears twice"));
  EXPECT_FALSE(ParseText(R"({"x":[{"k":1,"j":2,"k":3}]})").ok());
  std::string wide = "{";
  for (int i = 0; i < 100; ++i) wide += "\"k" + std::to_string(i) + "\":1,";
  EXPECT_TRUE(ParseText(wide + "\"z\":0}").ok());
  EXPECT_FALSE(ParseText(wide + "\"k42\":0}").ok());  // Past the pairwise check: sorted.
  // Same key in different objects is fine; and leniency for upstreams keeps both.
  EXPECT_TRUE(ParseText(R"({"a":{"k":1},"b":{"k":2}})").ok());
  rapidjson::Document d;
  EXPECT_TRUE(ParseBounded(d, R"({"k":1,"k":2})"));
}

TEST(JsonParseTest, OnlyWhitespaceMayFollowTheValue) {
  EXPECT_TRUE(ParseText(" {\"a\":1} \r\n\t").ok());
  EXPECT_THAT(ParseText(std::string("{\"a\":1}\0garbage", 15)).message(),
              HasSubstr("after the JSON value (at byte 7)"));
  EXPECT_FALSE(ParseText("{\"a\":1} x").ok());
  EXPECT_FALSE(ParseText("{\"a\":1}{}").ok());
}

TEST(JsonParseTest, TextMustBeUtf8AndKeysFreeOfNul) {
  EXPECT_THAT(ParseText("{\"a\":\"\xff\"}").message(), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(ParseText("{\"a\":\"\xc0\xaf\"}").message(),
              HasSubstr("not valid UTF-8"));  // Overlong '/'.
  EXPECT_THAT(ParseText(R"({"a":"\udc00"})").message(), HasSubstr("lone surrogate"));
  EXPECT_FALSE(ParseText(R"({"a":"\ud800"})").ok());
  EXPECT_TRUE(ParseText(R"({"a":"\ud83d\ude00 \u00e9 é"})").ok());
  EXPECT_THAT(ParseText(R"({"a\u0000b":1})").message(), HasSubstr("NUL"));
  // A NUL inside a string value is data (View() keeps it whole).
  rapidjson::Document d;
  ASSERT_TRUE(Parse(d, R"({"a":"x\u0000y"})").ok());
  EXPECT_EQ(View(d["a"]), absl::string_view("x\0y", 3));
}

TEST(JsonParseTest, ErrorsNeverEchoTheText) {
  const absl::Status s = ParseText("{\"secret-sk-123\":1,\"secret-sk-123\":2}");
  EXPECT_THAT(s.message(), HasSubstr("appears twice"));
  const absl::Status bad = ParseText("{\"\xff\xfe\":1,\"\xff\xfe\":1}");
  EXPECT_TRUE(IsValidUtf8(bad.message()));
}

TEST(JsonEscapeTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(Quote("a\xff"
                  "b"),
            "\"a\\ufffdb\"");
  EXPECT_EQ(Quote("\xe2\x82"), "\"\\ufffd\\ufffd\"");             // Truncated sequence.
  EXPECT_EQ(Quote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // Encoded surrogate.
  EXPECT_EQ(Quote("é€😀"), "\"é€😀\"");
  EXPECT_EQ(Quote(std::string("\0\x7f", 2)), "\"\\u0000\\u007f\"");
  EXPECT_TRUE(IsValidUtf8("é€😀"));
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // Past U+10FFFF.
}

}  // namespace
}  // namespace aimarket::json
