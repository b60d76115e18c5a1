// The translators' shared reads of what an upstream sends: numbers and Retry-After values from a
// hostile upstream are read without undefined behaviour, and statuses are mapped, never relayed.

#include "services/provider_adapter/providers/translate_util.h"

#include <rapidjson/document.h>

#include "common/status/error.h"
#include "gtest/gtest.h"

namespace aimarket::provider {
namespace {

TEST(TranslateUtilTest, IntOrTakesNumbersInRangeOnly) {
  rapidjson::Document d;
  d.Parse(R"({"a":5,"b":7.9,"c":1.2e112,"d":-1e300,"e":"9","f":9223372036854775807})");
  ASSERT_FALSE(d.HasParseError());
  EXPECT_EQ(IntOr(d, "a"), 5);
  EXPECT_EQ(IntOr(d, "b"), 7);
  EXPECT_EQ(IntOr(d, "c", -1), -1);  // Found by fuzz_provider_response: a cast out of range.
  EXPECT_EQ(IntOr(d, "d", -1), -1);
  EXPECT_EQ(IntOr(d, "e", -1), -1);
  EXPECT_EQ(IntOr(d, "f"), INT64_MAX);
}

TEST(TranslateUtilTest, RetryAfterIsSecondsUpToADay) {
  EXPECT_EQ(ParseRetryAfter("7"), absl::Seconds(7));
  EXPECT_EQ(ParseRetryAfter("0.5"), absl::Milliseconds(500));
  EXPECT_EQ(ParseRetryAfter("1e300"), absl::Seconds(86400));
  EXPECT_EQ(ParseRetryAfter("inf"), absl::Seconds(86400));
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_FALSE(ParseRetryAfter("-1").has_value());
  EXPECT_FALSE(ParseRetryAfter("nan").has_value());
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
  // Through an upstream failure: the client's Retry-After is bounded too.
  const absl::Status s = UpstreamFailure("p", 429, "slow down", "1e300");
  EXPECT_EQ(status::GetErrorInfo(s)->retry_after().seconds(), 86400);
}

TEST(TranslateUtilTest, UnknownStatusesAreTheGatewaysOwn502) {
  for (int upstream : {100, 101, 204, 301, 302, 307, 308, 405, 418, 451, 505, 599, 999}) {
    EXPECT_EQ(ClientHttpStatus(upstream), 502) << upstream;
    if (upstream == 204) continue;  // 2xx never reaches the error path.
    const absl::Status s = UpstreamFailure("p", upstream, "upstream words", "");
    EXPECT_EQ(status::GetErrorInfo(s)->reason(), "UPSTREAM_BAD_STATUS") << upstream;
    EXPECT_EQ(s.message().find("upstream words"), absl::string_view::npos) << upstream;
  }
  for (int upstream : {401, 403, 498}) {
    const absl::Status s = UpstreamFailure("p", upstream, "Incorrect API key provided: sk-x", "");
    EXPECT_EQ(status::GetErrorInfo(s)->http_status(), 502) << upstream;
    EXPECT_EQ(status::GetErrorInfo(s)->reason(), "UPSTREAM_AUTH_FAILED") << upstream;
    EXPECT_EQ(s.message().find("sk-x"), absl::string_view::npos) << upstream;
  }
  EXPECT_EQ(ClientHttpStatus(422), 400);
  EXPECT_EQ(ClientHttpStatus(529), 503);
  EXPECT_EQ(ClientHttpStatus(408), 504);
  EXPECT_EQ(ClientHttpStatus(429), 429);
}

}  // namespace
}  // namespace aimarket::provider
