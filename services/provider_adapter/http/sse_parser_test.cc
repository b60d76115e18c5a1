#include "services/provider_adapter/http/sse_parser.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::provider {
namespace {

using ::testing::ElementsAre;
using Event = std::pair<std::string, std::string>;

std::vector<Event> ParseInPieces(const std::string& body, size_t piece) {
  std::vector<Event> out;
  SseParser p([&](absl::string_view e, absl::string_view d) {
    out.emplace_back(std::string(e), std::string(d));
  });
  for (size_t at = 0; at < body.size(); at += piece)
    p.Feed(absl::string_view(body).substr(at, piece));
  p.Finish();
  return out;
}

TEST(SseParserTest, EveryFramingQuirkInEverySplit) {
  // "data:" with and without a space, CRLF and CR line ends, comments, keep-alives, event names,
  // multi-line data, and a multi-byte character ("é", "€").
  const std::string body =
      ": keep-alive\n\n"
      "data: {\"a\":1}\n\n"
      "data:{\"b\":\"caf\xc3\xa9\"}\r\n\r\n"
      "event: message_start\r\ndata: {\"c\":3}\r\n\r\n"
      ":\n"
      "data: line1\ndata: line2\n\n"
      "data: {\"d\":\"\xe2\x82\xac\"}\r\r"
      "data: [DONE]\n\n";
  for (size_t piece = 1; piece <= body.size(); ++piece) {
    SCOPED_TRACE(piece);
    EXPECT_THAT(ParseInPieces(body, piece),
                ElementsAre(Event{"", "{\"a\":1}"}, Event{"", "{\"b\":\"caf\xc3\xa9\"}"},
                            Event{"message_start", "{\"c\":3}"}, Event{"", "line1\nline2"},
                            Event{"", "{\"d\":\"\xe2\x82\xac\"}"}, Event{"", "[DONE]"}));
  }
}

TEST(SseParserTest, LastEventWithoutBlankLineIsDispatchedAtFinish) {
  EXPECT_THAT(ParseInPieces("data: x\n\ndata: y", 3), ElementsAre(Event{"", "x"}, Event{"", "y"}));
}

TEST(SseParserTest, FinishReturnsUnframedTrailingJson) {
  // Gemini appends a bare JSON error object after its events.
  std::vector<Event> events;
  SseParser p([&](absl::string_view e, absl::string_view d) {
    events.emplace_back(std::string(e), std::string(d));
  });
  p.Feed("data: {\"ok\":1}\r\n\r\n{\"error\":{\"code\":500}}");
  EXPECT_EQ(p.Finish(), "{\"error\":{\"code\":500}}");
  EXPECT_THAT(events, ElementsAre(Event{"", "{\"ok\":1}"}));
}

}  // namespace
}  // namespace aimarket::provider
