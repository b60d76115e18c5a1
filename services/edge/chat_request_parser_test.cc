// The OpenAI chat request parser: what it keeps, and the error (reason and param) for each kind
// of bad input. End to end, the same errors are checked through the SDK in tests/e2e.

#include "services/edge/chat_request_parser.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::edge {
namespace {

constexpr char kHello[] = R"("messages":[{"role":"user","content":"hi"}])";

common::v1::ChatRequest Ok(const std::string& body) {
  absl::StatusOr<common::v1::ChatRequest> r = ParseChatRequest(body);
  EXPECT_TRUE(r.ok()) << r.status() << " for " << body;
  return r.ok() ? *r : common::v1::ChatRequest();
}

// The request with `fields` (a JSON fragment) beside a valid model and messages.
common::v1::ChatRequest OkWith(const std::string& fields) {
  return Ok(absl::StrCat(R"({"model":"m",)", kHello, fields.empty() ? "" : ",", fields, "}"));
}

struct Refusal {
  std::string reason;
  std::string param;
};

Refusal Refused(const std::string& body) {
  absl::StatusOr<common::v1::ChatRequest> r = ParseChatRequest(body);
  if (r.ok()) {
    ADD_FAILURE() << "accepted: " << body;
    return {};
  }
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
  auto info = status::GetErrorInfo(r.status());
  if (!info) {
    ADD_FAILURE() << "no ErrorInfo: " << r.status();
    return {};
  }
  return {info->reason(), info->param()};
}

Refusal RefusedWith(const std::string& fields) {
  return Refused(absl::StrCat(R"({"model":"m",)", kHello, ",", fields, "}"));
}

MATCHER_P2(Is, reason, param, "") { return arg.reason == reason && arg.param == param; }

TEST(ChatRequestParserTest, KeepsTheRequestAndItsOriginalBody) {
  const std::string body =
      R"({"model":"gpt-x","messages":[{"role":"system","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"look"},
        {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}},
        {"type":"input_audio","input_audio":{"data":"", "format":"wav"}}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"f","arguments":"{\"a\":1}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"42"}],
      "stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"top_p":1,
      "n":1,"max_completion_tokens":64,"seed":-7,"stop":"END","user":"u-1",
      "tools":[{"type":"function","function":{"name":"f","description":"d",
        "parameters":{"type":"object"},"strict":true}}],
      "tool_choice":{"type":"function","function":{"name":"f"}},
      "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},
        "strict":true}},"metadata":{"k":"v"},"logit_bias":{"1":2}})";
  const common::v1::ChatRequest r = Ok(body);
  EXPECT_EQ(r.model(), "gpt-x");
  ASSERT_EQ(r.messages_size(), 4);
  EXPECT_EQ(r.messages(0).content(), "be brief");
  // Text and images are parsed; other part types reach OpenAI-format upstreams in the original.
  ASSERT_EQ(r.messages(1).parts_size(), 2);
  EXPECT_EQ(r.messages(1).parts(0).text(), "look");
  EXPECT_EQ(r.messages(1).parts(1).image_url().url(), "https://x/y.png");
  EXPECT_EQ(r.messages(1).parts(1).image_url().detail(), "low");
  ASSERT_EQ(r.messages(2).tool_calls_size(), 1);
  EXPECT_EQ(r.messages(2).tool_calls(0).id(), "call_1");
  EXPECT_EQ(r.messages(2).tool_calls(0).name(), "f");
  EXPECT_EQ(r.messages(2).tool_calls(0).arguments(), R"({"a":1})");
  EXPECT_EQ(r.messages(3).tool_call_id(), "call_1");
  EXPECT_TRUE(r.stream());
  EXPECT_TRUE(r.include_usage());
  EXPECT_DOUBLE_EQ(r.temperature(), 0.5);
  EXPECT_EQ(r.max_tokens(), 64);  // max_completion_tokens is max_tokens inside
  EXPECT_EQ(r.seed(), -7);
  ASSERT_EQ(r.stop_size(), 1);
  EXPECT_EQ(r.stop(0), "END");
  EXPECT_EQ(r.user(), "u-1");
  ASSERT_EQ(r.tools_size(), 1);
  EXPECT_EQ(r.tools(0).parameters_json(), R"({"type":"object"})");
  EXPECT_TRUE(r.tools(0).strict());
  EXPECT_EQ(r.tool_choice_json(), R"({"type":"function","function":{"name":"f"}})");
  EXPECT_EQ(r.response_format().type(), "json_schema");
  EXPECT_EQ(r.response_format().schema_name(), "s");
  EXPECT_EQ(r.response_format().schema_json(), R"({"type":"object"})");
  EXPECT_EQ(r.original_json(), body);
}

TEST(ChatRequestParserTest, NullIsAbsent) {
  const common::v1::ChatRequest r =
      OkWith(R"("temperature":null,"stop":null,"tools":null,"user":null,"stream_options":null)");
  EXPECT_FALSE(r.has_temperature());
  EXPECT_EQ(r.stop_size(), 0);
  EXPECT_EQ(r.tools_size(), 0);
  EXPECT_FALSE(r.include_usage());
}

TEST(ChatRequestParserTest, CacheControlIsReadOnPartsMessagesAndToolsAndChecked) {
  absl::StatusOr<common::v1::ChatRequest> r = ParseChatRequest(R"({"model":"m","messages":[
    {"role":"system","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral","ttl":"1h"}}]},
    {"role":"user","content":"q","cache_control":{"type":"ephemeral"}}],
    "tools":[{"type":"function","function":{"name":"f"},"cache_control":{"type":"ephemeral"}}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->messages(0).parts(0).cache_control().ttl(), "1h");
  EXPECT_FALSE(r->messages(0).has_cache_control());
  EXPECT_EQ(r->messages(1).cache_control().type(), "ephemeral");
  EXPECT_TRUE(r->tools(0).has_cache_control());
  EXPECT_THAT(
      Refused(
          R"({"model":"m","messages":[{"role":"user","content":"q","cache_control":{"type":"forever"}}]})"),
      Is("INVALID_VALUE", "messages[0].cache_control.type"));
  EXPECT_THAT(
      Refused(
          R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"q","cache_control":{"type":"ephemeral","ttl":"2h"}}]}]})"),
      Is("INVALID_VALUE", "messages[0].content[0].cache_control.ttl"));
  EXPECT_THAT(
      RefusedWith(R"("tools":[{"type":"function","function":{"name":"f"},"cache_control":"yes"}])"),
      Is("INVALID_TYPE", "tools[0].cache_control"));
}

TEST(ChatRequestParserTest, TheBodyAndItsRequiredFields) {
  EXPECT_EQ(Refused("{").reason, "INVALID_JSON");
  EXPECT_EQ(Refused("[]").reason, "INVALID_JSON");
  EXPECT_THAT(Refused(absl::StrCat("{", kHello, "}")), Is("MISSING_REQUIRED_PARAMETER", "model"));
  EXPECT_THAT(Refused(absl::StrCat(R"({"model":1,)", kHello, "}")), Is("INVALID_TYPE", "model"));
  EXPECT_THAT(Refused(absl::StrCat(R"({"model":"",)", kHello, "}")), Is("INVALID_VALUE", "model"));
  EXPECT_THAT(Refused(R"({"model":"m"})"), Is("MISSING_REQUIRED_PARAMETER", "messages"));
  EXPECT_THAT(Refused(R"({"model":"m","messages":{}})"), Is("INVALID_TYPE", "messages"));
  EXPECT_THAT(Refused(R"({"model":"m","messages":[]})"), Is("INVALID_VALUE", "messages"));
}

TEST(ChatRequestParserTest, MessagesAreNamedByTheirIndex) {
  auto with = [](const std::string& second) {
    return Refused(
        absl::StrCat(R"({"model":"m","messages":[{"role":"user","content":"a"},)", second, "]}"));
  };
  EXPECT_THAT(with("1"), Is("INVALID_TYPE", "messages[1]"));
  EXPECT_THAT(with(R"({"content":"x"})"), Is("MISSING_REQUIRED_PARAMETER", "messages[1].role"));
  EXPECT_THAT(with(R"({"role":"robot","content":"x"})"), Is("INVALID_VALUE", "messages[1].role"));
  EXPECT_THAT(with(R"({"role":"user"})"), Is("MISSING_REQUIRED_PARAMETER", "messages[1].content"));
  EXPECT_THAT(with(R"({"role":"user","content":5})"), Is("INVALID_TYPE", "messages[1].content"));
  EXPECT_THAT(with(R"({"role":"tool","content":"x"})"),
              Is("MISSING_REQUIRED_PARAMETER", "messages[1].tool_call_id"));
  EXPECT_THAT(with(R"({"role":"user","content":[{"type":"text"}]})"),
              Is("INVALID_TYPE", "messages[1].content[0].text"));
  EXPECT_THAT(with(R"({"role":"user","content":[{"text":"x"}]})"),
              Is("MISSING_REQUIRED_PARAMETER", "messages[1].content[0].type"));
  EXPECT_THAT(with(R"({"role":"user","content":[{"type":"image_url","image_url":{}}]})"),
              Is("INVALID_TYPE", "messages[1].content[0].image_url.url"));
  EXPECT_THAT(with(R"({"role":"assistant","tool_calls":[{"id":"c"}]})"),
              Is("MISSING_REQUIRED_PARAMETER", "messages[1].tool_calls[0].function"));
  EXPECT_THAT(
      with(R"({"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{}}}]})"),
      Is("INVALID_TYPE", "messages[1].tool_calls[0].function.arguments"));
  // An assistant turn may have no content (it made tool calls, or said nothing).
  EXPECT_TRUE(
      ParseChatRequest(
          R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant"}]})")
          .ok());
}

TEST(ChatRequestParserTest, IdentifiersRefuseControlCharacters) {
  EXPECT_THAT(
      Refused(R"({"model":"m","messages":[{"role":"user","name":"a\u0000b","content":"x"}]})"),
      Is("INVALID_VALUE", "messages[0].name"));
  EXPECT_THAT(
      Refused(R"({"model":"m","messages":[{"role":"tool","tool_call_id":"c\n","content":"x"}]})"),
      Is("INVALID_VALUE", "messages[0].tool_call_id"));
  EXPECT_THAT(RefusedWith(R"("tools":[{"type":"function","function":{"name":"f\u0001"}}])"),
              Is("INVALID_VALUE", "tools[0].function.name"));
  // Content may hold any character, NUL included, and keeps all its bytes.
  const common::v1::ChatRequest r =
      Ok(R"({"model":"m","messages":[{"role":"user","content":"a\u0000b"}]})");
  EXPECT_EQ(r.messages(0).content(), std::string("a\0b", 3));
}

TEST(ChatRequestParserTest, NumbersAndTheirRanges) {
  EXPECT_THAT(RefusedWith(R"("temperature":"hot")"), Is("INVALID_TYPE", "temperature"));
  EXPECT_THAT(RefusedWith(R"("temperature":2.5)"), Is("INVALID_VALUE", "temperature"));
  EXPECT_THAT(RefusedWith(R"("top_p":-0.1)"), Is("INVALID_VALUE", "top_p"));
  EXPECT_THAT(RefusedWith(R"("presence_penalty":3)"), Is("INVALID_VALUE", "presence_penalty"));
  EXPECT_THAT(RefusedWith(R"("n":0)"), Is("INVALID_VALUE", "n"));
  EXPECT_THAT(RefusedWith(R"("n":1.5)"), Is("INVALID_TYPE", "n"));
  EXPECT_THAT(RefusedWith(R"("max_tokens":0)"), Is("INVALID_VALUE", "max_tokens"));
  EXPECT_THAT(RefusedWith(R"("stream":"yes")"), Is("INVALID_TYPE", "stream"));
  EXPECT_THAT(RefusedWith(R"("stream_options":{"include_usage":1})"),
              Is("INVALID_TYPE", "stream_options.include_usage"));
  EXPECT_EQ(OkWith(R"("temperature":2,"top_p":0)").temperature(), 2);
  EXPECT_EQ(OkWith(R"("max_tokens":5)").max_tokens(), 5);
}

// Finding 6 of the second probe: n = 2^32 + 1 was cast to 32 bits and reached Anthropic as 1, and
// top_logprobs = 2^31 was accepted. Every integer is range-checked before anything narrows it.
TEST(ChatRequestParserTest, IntegersAreRangeCheckedBeforeTheyAreNarrowed) {
  for (const char* n : {"4294967297", "129", "-1", "18446744073709551615", "1e3"}) {
    EXPECT_THAT(RefusedWith(absl::StrCat(R"("n":)", n)),
                Is(n == std::string("1e3") ? "INVALID_TYPE" : "INVALID_VALUE", "n"))
        << n;
  }
  EXPECT_EQ(OkWith(R"("n":128)").n(), 128);
  EXPECT_THAT(RefusedWith(R"("top_logprobs":2147483648)"), Is("INVALID_VALUE", "top_logprobs"));
  EXPECT_THAT(RefusedWith(R"("top_logprobs":21)"), Is("INVALID_VALUE", "top_logprobs"));
  EXPECT_EQ(OkWith(R"("top_logprobs":20)").top_logprobs(), 20);
  EXPECT_THAT(RefusedWith(R"("max_tokens":2147483648)"), Is("INVALID_VALUE", "max_tokens"));
  EXPECT_THAT(RefusedWith(R"("max_completion_tokens":9223372036854775807)"),
              Is("INVALID_VALUE", "max_completion_tokens"));
  EXPECT_EQ(OkWith(R"("max_completion_tokens":2147483647)").max_tokens(), 2147483647);
  EXPECT_THAT(RefusedWith(R"("seed":9223372036854775808)"), Is("INVALID_VALUE", "seed"));
  EXPECT_EQ(OkWith(R"("seed":-9223372036854775808)").seed(), INT64_MIN);
}

TEST(ChatRequestParserTest, StopToolsAndFormats) {
  EXPECT_EQ(OkWith(R"("stop":["a","b"])").stop_size(), 2);
  EXPECT_THAT(RefusedWith(R"("stop":["a",1])"), Is("INVALID_TYPE", "stop"));
  EXPECT_THAT(RefusedWith(R"("stop":7)"), Is("INVALID_TYPE", "stop"));
  EXPECT_THAT(RefusedWith(R"("tools":{})"), Is("INVALID_TYPE", "tools"));
  EXPECT_THAT(RefusedWith(R"("tools":[{"type":"function"}])"),
              Is("MISSING_REQUIRED_PARAMETER", "tools[0].function"));
  EXPECT_THAT(RefusedWith(R"("tools":[{"type":"function","function":{}}])"),
              Is("MISSING_REQUIRED_PARAMETER", "tools[0].function.name"));
  EXPECT_THAT(
      RefusedWith(R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}])"),
      Is("INVALID_TYPE", "tools[0].function.parameters"));
  EXPECT_THAT(RefusedWith(R"("tool_choice":3)"), Is("INVALID_TYPE", "tool_choice"));
  EXPECT_EQ(OkWith(R"("tool_choice":"required")").tool_choice_json(), R"("required")");
  EXPECT_THAT(RefusedWith(R"("response_format":{})"),
              Is("MISSING_REQUIRED_PARAMETER", "response_format.type"));
  EXPECT_THAT(RefusedWith(R"("response_format":{"type":"xml"})"),
              Is("INVALID_VALUE", "response_format.type"));
  EXPECT_EQ(OkWith(R"("response_format":{"type":"json_object"})").response_format().type(),
            "json_object");
  EXPECT_THAT(RefusedWith(R"("user":5)"), Is("INVALID_TYPE", "user"));
  EXPECT_THAT(RefusedWith(R"("metadata":"x")"), Is("INVALID_TYPE", "metadata"));
}

TEST(ChatRequestParserTest, ReasoningEffortAndEchoedReasoning) {
  for (const char* e : {"none", "minimal", "low", "medium", "high"})
    EXPECT_EQ(OkWith(absl::StrCat(R"("reasoning_effort":")", e, R"(")")).reasoning_effort(), e);
  EXPECT_EQ(OkWith("").reasoning_effort(), "");
  EXPECT_EQ(OkWith(R"("reasoning_effort":null)").reasoning_effort(), "");
  EXPECT_THAT(RefusedWith(R"("reasoning_effort":"max")"), Is("INVALID_VALUE", "reasoning_effort"));
  EXPECT_THAT(RefusedWith(R"("reasoning_effort":3)"), Is("INVALID_TYPE", "reasoning_effort"));

  const common::v1::ChatRequest r = Ok(
      R"({"model":"m","messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":"a","reasoning_content":"I thought","reasoning_signature":"sig=="},
        {"role":"user","content":"more","reasoning_content":"ignored on a user message"}]})");
  EXPECT_EQ(r.messages(1).reasoning_content(), "I thought");
  EXPECT_EQ(r.messages(1).reasoning_signature(), "sig==");
  EXPECT_EQ(r.messages(2).reasoning_content(), "");
  EXPECT_THAT(Refused(R"({"model":"m","messages":[{"role":"assistant","content":"a",
                "reasoning_signature":7}]})"),
              Is("INVALID_TYPE", "messages[0].reasoning_signature"));
}

}  // namespace
}  // namespace aimarket::edge
