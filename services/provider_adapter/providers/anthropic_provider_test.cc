#include "services/provider_adapter/providers/anthropic_provider.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "services/provider_adapter/providers/openai_provider.h"
#include "services/provider_adapter/providers/translation_test_util.h"

namespace aimarket::provider {
namespace {

using testing::FakeHttp;
using testing::Fixture;
using testing::Folded;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Replay;
using testing::UpstreamConfig;

common::v1::ChatRequest UserSays(const std::string& text, bool stream) {
  common::v1::ChatRequest req;
  req.set_stream(stream);
  auto* m = req.add_messages();
  m->set_role("user");
  m->set_content(text);
  return req;
}

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  return d;
}

// A stream fixture cut in two at every byte of its first events (inside events, inside "\n\n")
// and around every multi-byte character anywhere in it, and in pieces of every small size, must
// give the client exactly what the uncut stream gives.
void ExpectEverySplitTheSame(Provider& p, FakeHttp& http, const common::v1::ChatRequest& req,
                             const std::string& body) {
  const Folded whole = Replay(p, http, req, body);
  ASSERT_TRUE(whole.status.ok()) << whole;
  ASSERT_TRUE(whole.valid_utf8);
  std::set<size_t> cuts;
  for (size_t cut = 1; cut < std::min<size_t>(body.size(), 1500); ++cut) cuts.insert(cut);
  for (size_t i = 0; i < body.size(); ++i) {
    if ((static_cast<unsigned char>(body[i]) & 0x80) == 0) continue;
    for (size_t cut = i > 4 ? i - 4 : 1; cut < std::min(body.size(), i + 5); ++cut)
      cuts.insert(cut);
  }
  for (size_t cut : cuts) {
    const Folded split = Replay(p, http, req, body, {cut});
    ASSERT_EQ(split, whole) << "cut at byte " << cut;
  }
  // And in pieces of every small size.
  for (size_t n = 1; n <= 7; ++n) {
    std::vector<size_t> cuts;
    for (size_t at = n; at < body.size(); at += n) cuts.push_back(at);
    ASSERT_EQ(Replay(p, http, req, body, cuts), whole) << "pieces of " << n;
  }
}

TEST(AnthropicTranslationTest, StreamsSurviveEverySplit) {
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  for (const char* f : {"chat_stream.sse", "tool_call_stream.sse", "text_and_tool_stream.sse",
                        "tool_result_stream.sse", "max_tokens_stream.sse"}) {
    SCOPED_TRACE(f);
    ExpectEverySplitTheSame(p, http, UserSays("hi", true), Fixture("anthropic", f));
  }
}

TEST(AnthropicTranslationTest, StreamedToolCallKeepsItsIdAndArguments) {
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  Folded f =
      Replay(p, http, UserSays("weather?", true), Fixture("anthropic", "text_and_tool_stream.sse"));
  ASSERT_TRUE(f.status.ok()) << f;
  EXPECT_EQ(f.content, "I'll check the current weather in Paris for you.");
  ASSERT_EQ(f.tool_calls.size(), 1u);
  EXPECT_EQ(f.tool_calls[0].id, "toolu_01NRLabsLyVHZPKxbKvkfSMn");
  EXPECT_EQ(f.tool_calls[0].name, "get_weather");
  EXPECT_EQ(f.tool_calls[0].arguments, R"({"location": "Paris"})");
  EXPECT_EQ(f.finish_reason, "tool_calls");
  EXPECT_EQ(f.prompt_tokens, 377);
  EXPECT_EQ(f.completion_tokens, 65);
  EXPECT_EQ(f.total_tokens, 442);
}

TEST(AnthropicTranslationTest, ToolWithoutInputGetsEmptyObjectArguments) {
  const std::string body =
      "event: message_start\ndata: "
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\","
      "\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":3,"
      "\"cache_creation_input_tokens\":4,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: "
      "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
      "{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"now\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: some_future_event\ndata: {\"type\":\"some_future_event\"}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
      "\"usage\":{\"output_tokens\":9}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  Folded f = Replay(p, http, UserSays("time?", true), body);
  ASSERT_TRUE(f.status.ok()) << f;
  ASSERT_EQ(f.tool_calls.size(), 1u);
  EXPECT_EQ(f.tool_calls[0].arguments, "{}");
  EXPECT_EQ(f.prompt_tokens, 12);  // input + cache read + cache write
  EXPECT_EQ(f.cached_tokens, 3);
  EXPECT_EQ(f.cache_write_tokens, 4);  // Apart, for metering.
  EXPECT_EQ(f.completion_tokens, 9);
}

TEST(AnthropicTranslationTest, ErrorEventEndsTheStreamWithAnOpenAiError) {
  const std::string body =
      "event: message_start\ndata: "
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\","
      "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
      "event: error\ndata: "
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"
      "\n\n";
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  Folded f = Replay(p, http, UserSays("hi", true), body);
  EXPECT_EQ(f.content, "Hel");
  EXPECT_EQ(f.status.code(), absl::StatusCode::kUnavailable) << f;
  EXPECT_TRUE(
      http.cancelled);  // The upstream connection is closed at once, not left to the upstream.
  auto info = status::GetErrorInfo(f.status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->http_status(), 503);
  EXPECT_EQ(info->reason(), "OVERLOADED");
}

TEST(AnthropicTranslationTest, StreamCutBeforeItsEndIsAnError) {
  std::string body = Fixture("anthropic", "chat_stream.sse");
  body = body.substr(0, body.find("event: message_delta"));
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  Folded f = Replay(p, http, UserSays("hi", true), body);
  EXPECT_EQ(f.status.code(), absl::StatusCode::kUnavailable) << f;
  EXPECT_THAT(f.status.message(), HasSubstr("message_stop"));
}

TEST(AnthropicTranslationTest, UpstreamErrorsMapToOpenAiStatuses) {
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  struct Case {
    const char* file;
    int upstream;
    int client;
  };
  for (const Case& c : {Case{"error_529_overloaded_error.json", 529, 503},
                        Case{"error_413_request_too_large.json", 413, 413},
                        Case{"error_429_rate_limit_error.json", 429, 429}}) {
    Folded f = Replay(p, http, UserSays("hi", false), Fixture("anthropic", c.file), {}, c.upstream,
                      {{"retry-after", "7"}});
    auto info = status::GetErrorInfo(f.status);
    ASSERT_TRUE(info.has_value()) << c.file;
    EXPECT_EQ(info->http_status(), c.client) << c.file;
    EXPECT_EQ(info->retry_after().seconds(), 7) << c.file;
  }
  // The operator's key refused: the gateway's 502, never the client's 401 nor Anthropic's words.
  Folded key = Replay(p, http, UserSays("hi", false),
                      Fixture("anthropic", "error_401_authentication_error.json"), {}, 401);
  auto info = status::GetErrorInfo(key.status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->http_status(), 502);
  EXPECT_EQ(info->reason(), "UPSTREAM_AUTH_FAILED");
  EXPECT_THAT(key.status.message(), Not(HasSubstr("x-api-key")));
}

TEST(AnthropicRequestTest, MapsTheConversation) {
  common::v1::ChatRequest req;
  auto add = [&req](const char* role, const char* content) {
    auto* m = req.add_messages();
    m->set_role(role);
    m->set_content(content);
    return m;
  };
  add("system", "Be brief.");
  add("developer", "Use metric units.");
  auto* u = req.add_messages();
  u->set_role("user");
  u->add_parts()->set_text("What is this?");
  u->add_parts()->mutable_image_url()->set_url("data:image/png;base64,iVBORw0KGgo=");
  u->add_parts()->mutable_image_url()->set_url("https://example.com/cat.jpg");
  auto* a = add("assistant", "");
  auto* t1 = a->add_tool_calls();
  t1->set_id("toolu_1");
  t1->set_name("look");
  t1->set_arguments(R"({"what":"image"})");
  auto* t2 = a->add_tool_calls();
  t2->set_id("toolu_2");
  t2->set_name("now");
  t2->set_arguments("");
  add("tool", "a cat")->set_tool_call_id("toolu_1");
  add("tool", "noon")->set_tool_call_id("toolu_2");
  add("user", "Thanks!");
  req.set_temperature(1.6);
  req.add_stop("END");
  req.set_user("u-1");
  auto* tool = req.add_tools();
  tool->set_name("look");
  tool->set_parameters_json(R"({"type":"object","properties":{"what":{"type":"string"}}})");
  req.add_tools()->set_name("now");
  req.set_tool_choice_json(R"("required")");
  req.set_parallel_tool_calls(false);

  absl::StatusOr<AnthropicRequest> out = BuildAnthropicRequest(req, "claude-x");
  ASSERT_TRUE(out.ok()) << out.status();
  rapidjson::Document d = Parse(out->body);
  EXPECT_STREQ(d["model"].GetString(), "claude-x");
  EXPECT_EQ(d["max_tokens"].GetInt(), AnthropicProvider::kDefaultMaxTokens);
  EXPECT_STREQ(d["system"].GetString(), "Be brief.\n\nUse metric units.");
  EXPECT_DOUBLE_EQ(d["temperature"].GetDouble(), 1.0);  // Clamped to Anthropic's range.
  EXPECT_STREQ(d["stop_sequences"][0].GetString(), "END");
  EXPECT_STREQ(d["metadata"]["user_id"].GetString(), "u-1");
  EXPECT_STREQ(d["tool_choice"]["type"].GetString(), "any");
  EXPECT_TRUE(d["tool_choice"]["disable_parallel_tool_use"].GetBool());
  EXPECT_STREQ(d["tools"][1]["input_schema"]["type"].GetString(), "object");  // Default schema.
  const auto& msgs = d["messages"];
  ASSERT_EQ(msgs.Size(), 3u);  // user, assistant, user (both tool results + "Thanks!" merged)
  EXPECT_STREQ(msgs[0]["content"][1]["source"]["type"].GetString(), "base64");
  EXPECT_STREQ(msgs[0]["content"][1]["source"]["media_type"].GetString(), "image/png");
  EXPECT_STREQ(msgs[0]["content"][2]["source"]["type"].GetString(), "url");
  EXPECT_STREQ(msgs[1]["role"].GetString(), "assistant");
  EXPECT_STREQ(msgs[1]["content"][0]["type"].GetString(), "tool_use");
  EXPECT_STREQ(msgs[1]["content"][0]["input"]["what"].GetString(), "image");
  EXPECT_TRUE(msgs[1]["content"][1]["input"].IsObject());  // "" arguments → {}
  EXPECT_STREQ(msgs[2]["role"].GetString(), "user");
  ASSERT_EQ(msgs[2]["content"].Size(), 3u);
  EXPECT_STREQ(msgs[2]["content"][0]["tool_use_id"].GetString(), "toolu_1");
  EXPECT_STREQ(msgs[2]["content"][1]["tool_use_id"].GetString(), "toolu_2");
  EXPECT_STREQ(msgs[2]["content"][2]["text"].GetString(), "Thanks!");
  EXPECT_FALSE(d.HasMember("stream"));
}

TEST(AnthropicRequestTest, CacheBreakpointsReachAnthropicWhereTheClientPutThem) {
  common::v1::ChatRequest req;
  auto* sys = req.add_messages();
  sys->set_role("system");
  sys->add_parts()->set_text("Rules.");
  auto* doc = sys->add_parts();
  doc->set_text("A long document.");
  doc->mutable_cache_control()->set_type("ephemeral");
  doc->mutable_cache_control()->set_ttl("1h");
  auto* u = req.add_messages();
  u->set_role("user");
  u->set_content("Question?");
  u->mutable_cache_control()->set_type("ephemeral");  // On the message: its last block.
  auto* tool = req.add_tools();
  tool->set_name("look");
  tool->mutable_cache_control()->set_type("ephemeral");
  req.add_tools()->set_name("now");

  absl::StatusOr<AnthropicRequest> out = BuildAnthropicRequest(req, "claude-x");
  ASSERT_TRUE(out.ok()) << out.status();
  rapidjson::Document d = Parse(out->body);
  // With a breakpoint in it, the system prompt goes as blocks.
  ASSERT_TRUE(d["system"].IsArray()) << out->body;
  ASSERT_EQ(d["system"].Size(), 2u);
  EXPECT_STREQ(d["system"][0]["text"].GetString(), "Rules.");
  EXPECT_FALSE(d["system"][0].HasMember("cache_control"));
  EXPECT_STREQ(d["system"][1]["cache_control"]["type"].GetString(), "ephemeral");
  EXPECT_STREQ(d["system"][1]["cache_control"]["ttl"].GetString(), "1h");
  const auto& content = d["messages"][0]["content"];
  ASSERT_TRUE(content.IsArray()) << out->body;
  EXPECT_STREQ(content[0]["text"].GetString(), "Question?");
  EXPECT_STREQ(content[0]["cache_control"]["type"].GetString(), "ephemeral");
  EXPECT_FALSE(content[0]["cache_control"].HasMember("ttl"));
  EXPECT_STREQ(d["tools"][0]["cache_control"]["type"].GetString(), "ephemeral");
  EXPECT_FALSE(d["tools"][1].HasMember("cache_control"));
}

TEST(AnthropicRequestTest, RefusesWhatItCannotHonourNamingTheField) {
  auto param = [](const absl::Status& s) {
    auto info = status::GetErrorInfo(s);
    return info.has_value() ? info->param() : "";
  };
  common::v1::ChatRequest req = UserSays("hi", false);
  req.set_n(2);
  EXPECT_EQ(param(BuildAnthropicRequest(req, "m").status()), "n");
  req = UserSays("hi", false);
  req.set_logprobs(true);
  EXPECT_EQ(param(BuildAnthropicRequest(req, "m").status()), "logprobs");
  req = UserSays("hi", false);
  req.mutable_response_format()->set_type("json_object");
  req.add_tools()->set_name("t");
  EXPECT_EQ(param(BuildAnthropicRequest(req, "m").status()), "response_format");
  req = UserSays("hi", false);
  req.mutable_messages(0)->clear_content();
  req.mutable_messages(0)->add_parts()->mutable_image_url()->set_url("ftp://x/y.png");
  EXPECT_EQ(param(BuildAnthropicRequest(req, "m").status()),
            "messages[0].content[0].image_url.url");
  req = UserSays("hi", false);
  auto* a = req.add_messages();
  a->set_role("assistant");
  auto* t = a->add_tool_calls();
  t->set_id("x");
  t->set_name("f");
  t->set_arguments("[1,2]");
  EXPECT_EQ(param(BuildAnthropicRequest(req, "m").status()),
            "messages[1].tool_calls[0].function.arguments");
}

TEST(AnthropicRequestTest, ReasoningEffortIsThinkingWithABudgetInsideMaxTokens) {
  auto thinking = [](const common::v1::ChatRequest& req) -> std::pair<int64_t, int64_t> {
    absl::StatusOr<AnthropicRequest> out = BuildAnthropicRequest(req, "m");
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return {-1, -1};
    rapidjson::Document d = Parse(out->body);
    const int64_t max_tokens = d["max_tokens"].GetInt64();
    if (!d.HasMember("thinking")) return {0, max_tokens};
    EXPECT_STREQ(d["thinking"]["type"].GetString(), "enabled");
    return {d["thinking"]["budget_tokens"].GetInt64(), max_tokens};
  };
  common::v1::ChatRequest req = UserSays("why?", false);
  EXPECT_EQ(thinking(req), std::make_pair(int64_t{0}, int64_t{4096}));
  req.set_reasoning_effort("none");
  EXPECT_EQ(thinking(req).first, 0);
  // Without max_tokens the answer keeps its default room beside the budget.
  req.set_reasoning_effort("minimal");
  EXPECT_EQ(thinking(req), std::make_pair(int64_t{1024}, int64_t{1024 + 4096}));
  req.set_reasoning_effort("low");
  EXPECT_EQ(thinking(req).first, 2048);
  req.set_reasoning_effort("medium");
  EXPECT_EQ(thinking(req).first, 8192);
  req.set_reasoning_effort("high");
  EXPECT_EQ(thinking(req), std::make_pair(int64_t{16384}, int64_t{16384 + 4096}));
  // The client's max_tokens counts the thinking too (as OpenAI's counts reasoning tokens).
  req.set_max_tokens(3000);
  EXPECT_EQ(thinking(req), std::make_pair(int64_t{2999}, int64_t{3000}));
  req.set_max_tokens(1024);  // No room for Anthropic's minimum budget: no thinking.
  EXPECT_EQ(thinking(req), std::make_pair(int64_t{0}, int64_t{1024}));
}

TEST(AnthropicRequestTest, ThinkingRefusesSamplingAndForcedToolsNamingTheField) {
  auto param = [](const common::v1::ChatRequest& req) {
    auto info = status::GetErrorInfo(BuildAnthropicRequest(req, "m").status());
    return info.has_value() ? info->param() : "accepted";
  };
  common::v1::ChatRequest req = UserSays("hi", false);
  req.set_reasoning_effort("low");
  req.set_temperature(0.2);
  EXPECT_EQ(param(req), "temperature");
  req.set_temperature(1.0);
  EXPECT_EQ(param(req), "accepted");
  req.set_top_p(0.5);
  EXPECT_EQ(param(req), "top_p");
  req.set_top_p(0.96);
  EXPECT_EQ(param(req), "accepted");
  req.add_tools()->set_name("f");
  req.set_tool_choice_json(R"("required")");
  EXPECT_EQ(param(req), "tool_choice");
  req.set_tool_choice_json(R"({"type":"function","function":{"name":"f"}})");
  EXPECT_EQ(param(req), "tool_choice");
  req.set_tool_choice_json(R"("auto")");
  EXPECT_EQ(param(req), "accepted");
  req = UserSays("hi", false);
  req.set_reasoning_effort("high");
  req.mutable_response_format()->set_type("json_object");
  EXPECT_EQ(param(req), "response_format");
  // Without reasoning the same sampling is fine.
  req = UserSays("hi", false);
  req.set_temperature(0.2);
  EXPECT_EQ(param(req), "accepted");
}

TEST(AnthropicRequestTest, EchoedSignedThinkingLeadsItsToolTurnOrThinkingIsOff) {
  common::v1::ChatRequest req = UserSays("weather?", false);
  req.set_reasoning_effort("low");
  auto* a = req.add_messages();
  a->set_role("assistant");
  a->set_reasoning_content("I should look it up.");
  a->set_reasoning_signature("EqQBCgIYAhIM");
  auto* call = a->add_tool_calls();
  call->set_id("toolu_1");
  call->set_name("weather");
  call->set_arguments("{}");
  auto* result = req.add_messages();
  result->set_role("tool");
  result->set_tool_call_id("toolu_1");
  result->set_content("sunny");

  absl::StatusOr<AnthropicRequest> out = BuildAnthropicRequest(req, "m");
  ASSERT_TRUE(out.ok()) << out.status();
  rapidjson::Document d = Parse(out->body);
  ASSERT_TRUE(d.HasMember("thinking"));
  const auto& turn = d["messages"][1]["content"];
  ASSERT_EQ(turn.Size(), 2u);
  EXPECT_STREQ(turn[0]["type"].GetString(), "thinking");
  EXPECT_STREQ(turn[0]["thinking"].GetString(), "I should look it up.");
  EXPECT_STREQ(turn[0]["signature"].GetString(), "EqQBCgIYAhIM");
  EXPECT_STREQ(turn[1]["type"].GetString(), "tool_use");

  // A client that dropped the signature: Anthropic would refuse thinking here, so none is asked.
  req.mutable_messages(1)->clear_reasoning_signature();
  out = BuildAnthropicRequest(req, "m");
  ASSERT_TRUE(out.ok()) << out.status();
  d = Parse(out->body);
  EXPECT_FALSE(d.HasMember("thinking"));
  EXPECT_STREQ(d["messages"][1]["content"][0]["type"].GetString(), "tool_use");

  // Without reasoning asked for, an echoed signature is not sent.
  req.mutable_messages(1)->set_reasoning_signature("EqQBCgIYAhIM");
  req.clear_reasoning_effort();
  out = BuildAnthropicRequest(req, "m");
  ASSERT_TRUE(out.ok()) << out.status();
  d = Parse(out->body);
  EXPECT_STREQ(d["messages"][1]["content"][0]["type"].GetString(), "tool_use");
}

// Thinking blocks in Anthropic's streaming shape (docs: extended thinking, streaming), composed.
constexpr char kThinkingStream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_t\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
    "\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
    "\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"Two plus two \"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"is four.\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"4\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":30}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

TEST(AnthropicTranslationTest, ThinkingIsReasoningContentWithItsSignatureNeverContent) {
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  const Folded streamed = Replay(p, http, UserSays("2+2?", true), kThinkingStream);
  ASSERT_TRUE(streamed.status.ok()) << streamed;
  EXPECT_EQ(streamed.content, "4");
  EXPECT_EQ(streamed.reasoning, "Two plus two is four.");
  EXPECT_EQ(streamed.reasoning_signature, "EqQBCgIYAhIM1gbcDa9GJwZA");
  EXPECT_EQ(streamed.finish_reason, "stop");
  ExpectEverySplitTheSame(p, http, UserSays("2+2?", true), kThinkingStream);

  const Folded plain = Replay(
      p, http, UserSays("2+2?", false),
      R"({"id":"msg_t","type":"message","role":"assistant","model":"claude-sonnet-4-5",)"
      R"("content":[{"type":"thinking","thinking":"Two plus two is four.","signature":"EqQB"},)"
      R"({"type":"redacted_thinking","data":"opaque"},{"type":"text","text":"4"}],)"
      R"("stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":30}})");
  ASSERT_TRUE(plain.status.ok()) << plain;
  EXPECT_TRUE(plain.completion);
  EXPECT_EQ(plain.content, "4");
  EXPECT_EQ(plain.reasoning, "Two plus two is four.");
  EXPECT_EQ(plain.reasoning_signature, "EqQB");
}

TEST(AnthropicRequestTest, JsonModeIsAForcedToolWhoseInputIsTheContent) {
  common::v1::ChatRequest req = UserSays("a person", false);
  req.mutable_response_format()->set_type("json_schema");
  req.mutable_response_format()->set_schema_name("person");
  req.mutable_response_format()->set_schema_json(
      R"({"type":"object","properties":{"name":{"type":"string"}}})");
  absl::StatusOr<AnthropicRequest> out = BuildAnthropicRequest(req, "m");
  ASSERT_TRUE(out.ok()) << out.status();
  rapidjson::Document d = Parse(out->body);
  EXPECT_STREQ(d["tools"][0]["name"].GetString(), "person");
  EXPECT_STREQ(d["tools"][0]["input_schema"]["properties"]["name"]["type"].GetString(), "string");
  EXPECT_STREQ(d["tool_choice"]["type"].GetString(), "tool");
  EXPECT_STREQ(d["tool_choice"]["name"].GetString(), "person");

  // The answer: the tool's input becomes the message content, and the finish reason is "stop".
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  Folded plain = Replay(
      p, http, req,
      R"({"id":"msg_1","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"person",)"
      R"("input":{"name":"Ada"}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}})");
  ASSERT_TRUE(plain.status.ok()) << plain;
  EXPECT_EQ(plain.content, R"({"name":"Ada"})");
  EXPECT_TRUE(plain.tool_calls.empty());
  EXPECT_EQ(plain.finish_reason, "stop");

  req.set_stream(true);
  Folded streamed = Replay(p, http, req,
                           "data: "
                           "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":"
                           "\"m\",\"usage\":{\"input_tokens\":3}}}\n\n"
                           "data: "
                           "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{"
                           "\"type\":\"tool_use\",\"id\":\"t\","
                           "\"name\":\"person\",\"input\":{}}}\n\n"
                           "data: "
                           "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                           "\"input_json_delta\",\"partial_json\":"
                           "\"{\\\"name\\\": \"}}\n\n"
                           "data: "
                           "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                           "\"input_json_delta\",\"partial_json\":"
                           "\"\\\"Ada\\\"}\"}}\n\n"
                           "data: "
                           "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
                           "\"usage\":{\"output_tokens\":4}}\n\n"
                           "data: {\"type\":\"message_stop\"}\n\n");
  ASSERT_TRUE(streamed.status.ok()) << streamed;
  EXPECT_EQ(streamed.content, R"({"name": "Ada"})");
  EXPECT_TRUE(streamed.tool_calls.empty());
  EXPECT_EQ(streamed.finish_reason, "stop");
}

TEST(OpenAiTranslationTest, StreamsSurviveEverySplit) {
  FakeHttp http;
  OpenAiProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_OPENAI), http);
  for (const char* f :
       {"chat_stream.sse", "tool_call_stream.sse", "parallel_tool_calls_stream.sse"}) {
    SCOPED_TRACE(f);
    ExpectEverySplitTheSame(p, http, UserSays("hi", true), Fixture("openai", f));
  }
}

}  // namespace
}  // namespace aimarket::provider
