#include "services/provider_adapter/providers/gemini_provider.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "services/provider_adapter/providers/gemini_request.h"
#include "services/provider_adapter/providers/gemini_schema.h"
#include "services/provider_adapter/providers/translation_test_util.h"

namespace aimarket::provider {
namespace {

using testing::FakeHttp;
using testing::Fixture;
using testing::Folded;
using testing::Replay;

config::v1::ProviderConfig Config() {
  config::v1::ProviderConfig c;
  c.set_name("gem");
  c.set_type(config::v1::PROVIDER_TYPE_GEMINI);
  c.set_base_url("http://upstream.test");
  return c;
}

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

TEST(GeminiTranslationTest, CrlfStreamsAndMultiByteTextSurviveEverySplit) {
  FakeHttp http;
  GeminiProvider p(Config(), http);
  for (const char* f :
       {"chat_stream.sse", "utf8_stream.sse", "tool_call_stream.sse", "error_mid_stream.sse"}) {
    SCOPED_TRACE(f);
    const std::string body = Fixture("gemini", f);
    const Folded whole = testing::WithoutIds(Replay(p, http, UserSays("hi", true), body));
    ASSERT_TRUE(whole.valid_utf8);
    std::set<size_t> cuts;
    for (size_t cut = 1; cut < std::min<size_t>(body.size(), 1200); ++cut) cuts.insert(cut);
    for (size_t i = 0; i < body.size(); ++i) {
      if ((static_cast<unsigned char>(body[i]) & 0x80) != 0)
        cuts.insert(i);  // Inside every multi-byte character.
    }
    for (size_t cut : cuts) {
      ASSERT_EQ(testing::WithoutIds(Replay(p, http, UserSays("hi", true), body, {cut})), whole)
          << "cut at " << cut;
    }
  }
}

TEST(GeminiTranslationTest, BareJsonErrorAfterTheEventsEndsTheStream) {
  FakeHttp http;
  GeminiProvider p(Config(), http);
  Folded f = Replay(p, http, UserSays("hi", true), Fixture("gemini", "error_mid_stream.sse"));
  EXPECT_EQ(f.content, "First Second ");
  EXPECT_EQ(f.finish_reason, "");  // No finish reason before an error.
  auto info = status::GetErrorInfo(f.status);
  ASSERT_TRUE(info.has_value()) << f;
  EXPECT_EQ(info->http_status(), 500);  // Gemini's 499 CANCELLED.
  EXPECT_EQ(f.status.message(), "The operation was cancelled.");
}

TEST(GeminiTranslationTest, FunctionCallsGetUniqueIdsAndObjectArguments) {
  FakeHttp http;
  GeminiProvider p(Config(), http);
  Folded f = Replay(p, http, UserSays("sums", false),
                    Fixture("gemini", "parallel_function_calls_response.json"));
  ASSERT_TRUE(f.status.ok()) << f;
  ASSERT_EQ(f.tool_calls.size(), 3u);
  std::set<std::string> ids;
  for (const auto& t : f.tool_calls) ids.insert(t.id);
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(f.tool_calls[1].arguments, R"({"y":3,"x":4})");
  EXPECT_EQ(f.finish_reason, "tool_calls");
  Folded none = Replay(p, http, UserSays("time", false),
                       Fixture("gemini", "function_call_no_args_response.json"));
  ASSERT_EQ(none.tool_calls.size(), 1u);
  EXPECT_EQ(none.tool_calls[0].arguments, "{}");
}

TEST(GeminiTranslationTest, ThoughtsAreReasoningContentAndTheSignatureTravelsWithThem) {
  FakeHttp http;
  GeminiProvider p(Config(), http);
  // Captured (tests/testdata/providers/gemini/README.md): a thought summary, then a function call
  // that carries the turn's thoughtSignature.
  rapidjson::Document fixture = Parse(Fixture("gemini", "thinking_tool_call_response.json"));
  const auto& parts = fixture["candidates"][0]["content"]["parts"];
  const std::string thought = parts[0]["text"].GetString();
  const std::string signature = parts[1]["thoughtSignature"].GetString();
  ASSERT_FALSE(signature.empty());

  const Folded plain = Replay(p, http, UserSays("days to new year?", false),
                              Fixture("gemini", "thinking_tool_call_response.json"));
  ASSERT_TRUE(plain.status.ok()) << plain;
  EXPECT_EQ(plain.content, "");
  EXPECT_EQ(plain.reasoning, thought);
  EXPECT_EQ(plain.reasoning_signature, signature);
  ASSERT_EQ(plain.tool_calls.size(), 1u);

  const Folded streamed = Replay(p, http, UserSays("days to new year?", true),
                                 Fixture("gemini", "thinking_tool_call_stream.sse"));
  ASSERT_TRUE(streamed.status.ok()) << streamed;
  EXPECT_EQ(streamed.content, "");
  EXPECT_THAT(streamed.reasoning, ::testing::StartsWith("**Calculating the Days**"));
  EXPECT_FALSE(streamed.reasoning_signature.empty());
  ASSERT_EQ(streamed.tool_calls.size(), 1u);
  EXPECT_EQ(streamed.tool_calls[0].name, "now");
}

TEST(GeminiRequestTest, ReasoningEffortIsAThinkingBudgetAndTheSignatureGoesBack) {
  auto config = [](const std::string& effort) {
    common::v1::ChatRequest req = UserSays("hi", false);
    req.set_reasoning_effort(effort);
    absl::StatusOr<std::string> body = BuildGeminiBody(req);
    EXPECT_TRUE(body.ok()) << body.status();
    return Parse(body.ok() ? *body : "{}");
  };
  EXPECT_FALSE(Parse(*BuildGeminiBody(UserSays("hi", false))).HasMember("generationConfig"));
  rapidjson::Document none = config("none");
  EXPECT_EQ(none["generationConfig"]["thinkingConfig"]["thinkingBudget"].GetInt(), 0);
  EXPECT_FALSE(none["generationConfig"]["thinkingConfig"].HasMember("includeThoughts"));
  for (const auto& [effort, budget] : std::vector<std::pair<std::string, int>>{
           {"minimal", 512}, {"low", 1024}, {"medium", 8192}, {"high", 24576}}) {
    rapidjson::Document d = config(effort);
    const auto& tc = d["generationConfig"]["thinkingConfig"];
    EXPECT_EQ(tc["thinkingBudget"].GetInt(), budget) << effort;
    EXPECT_TRUE(tc["includeThoughts"].GetBool()) << effort;
  }

  common::v1::ChatRequest req = UserSays("days to new year?", false);
  auto* a = req.add_messages();
  a->set_role("assistant");
  a->set_reasoning_content("I need the date.");
  a->set_reasoning_signature("CtQOAVSo");
  for (const char* name : {"now", "tz"}) {
    auto* c = a->add_tool_calls();
    c->set_id(absl::StrCat("call_", name));
    c->set_name(name);
  }
  absl::StatusOr<std::string> body = BuildGeminiBody(req);
  ASSERT_TRUE(body.ok()) << body.status();
  rapidjson::Document d = Parse(*body);
  const auto& model_parts = d["contents"][1]["parts"];
  ASSERT_EQ(model_parts.Size(), 2u);  // The reasoning text itself is not sent back.
  EXPECT_STREQ(model_parts[0]["thoughtSignature"].GetString(), "CtQOAVSo");
  EXPECT_FALSE(model_parts[1].HasMember("thoughtSignature"));  // Only the turn's first call.
}

TEST(GeminiTranslationTest, InvalidKeyIsTheGatewaysAuthFailureAndRetryInfoIsRetryAfter) {
  FakeHttp http;
  GeminiProvider p(Config(), http);
  // Gemini says the operator's key is invalid with a 400: the client is not told its own key is.
  Folded key = Replay(p, http, UserSays("hi", false),
                      Fixture("gemini", "error_400_api_key_invalid.json"), {}, 400);
  EXPECT_EQ(status::GetErrorInfo(key.status)->http_status(), 502);
  EXPECT_EQ(status::GetErrorInfo(key.status)->reason(), "UPSTREAM_AUTH_FAILED");
  Folded rate = Replay(p, http, UserSays("hi", false),
                       Fixture("gemini", "error_429_rate_limit_retryinfo.json"), {}, 429);
  EXPECT_EQ(status::GetErrorInfo(rate.status)->retry_after().seconds(), 37);
}

TEST(GeminiRequestTest, ToolResultsAreNamedByTheirCallAndWrappedAsObjects) {
  common::v1::ChatRequest req = UserSays("weather and time?", false);
  auto* a = req.add_messages();
  a->set_role("assistant");
  auto* c1 = a->add_tool_calls();
  c1->set_id("call_1");
  c1->set_name("weather");
  c1->set_arguments(R"({"city":"Oslo"})");
  auto* c2 = a->add_tool_calls();
  c2->set_id("call_2");
  c2->set_name("time");
  auto* r1 = req.add_messages();
  r1->set_role("tool");
  r1->set_tool_call_id("call_1");
  r1->set_content(R"({"temp":3})");
  auto* r2 = req.add_messages();
  r2->set_role("tool");
  r2->set_tool_call_id("call_2");
  r2->set_content("noon");
  absl::StatusOr<std::string> body = BuildGeminiBody(req);
  ASSERT_TRUE(body.ok()) << body.status();
  rapidjson::Document d = Parse(*body);
  const auto& contents = d["contents"];
  ASSERT_EQ(contents.Size(), 3u);
  EXPECT_STREQ(contents[1]["role"].GetString(), "model");
  EXPECT_STREQ(contents[1]["parts"][0]["functionCall"]["args"]["city"].GetString(), "Oslo");
  EXPECT_TRUE(contents[1]["parts"][1]["functionCall"]["args"].IsObject());
  const auto& results = contents[2]["parts"];  // Both results in one user turn.
  ASSERT_EQ(results.Size(), 2u);
  EXPECT_STREQ(results[0]["functionResponse"]["name"].GetString(), "weather");
  EXPECT_EQ(results[0]["functionResponse"]["response"]["temp"].GetInt(), 3);
  EXPECT_STREQ(results[1]["functionResponse"]["name"].GetString(), "time");
  EXPECT_STREQ(results[1]["functionResponse"]["response"]["result"].GetString(), "noon");

  // A result for a call nobody made: Gemini needs the function's name, so it is a 400.
  common::v1::ChatRequest orphan = UserSays("x", false);
  auto* r = orphan.add_messages();
  r->set_role("tool");
  r->set_tool_call_id("call_9");
  r->set_content("1");
  EXPECT_EQ(status::GetErrorInfo(BuildGeminiBody(orphan).status())->param(),
            "messages[1].tool_call_id");
}

// $refs are expanded in place: a schema that refers to itself twice per level would double at
// every level (2^32 nodes at the depth cap). The expansion is capped; the request is a 400.
TEST(GeminiRequestTest, SelfReferringSchemaIsRefusedNotExpandedForever) {
  const std::string bomb =
      R"({"type":"object","properties":{"a":{"$ref":"#/$defs/n"},"b":{"$ref":"#/$defs/n"}},
    "$defs":{"n":{"type":"object","properties":{"a":{"$ref":"#/$defs/n"},"b":{"$ref":"#/$defs/n"}}}}})";
  absl::StatusOr<std::string> reduced = ReduceSchemaForGemini(bomb, "tools[0].function.parameters");
  ASSERT_FALSE(reduced.ok());
  EXPECT_EQ(reduced.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status::GetErrorInfo(reduced.status())->param(), "tools[0].function.parameters");
  common::v1::ChatRequest req = UserSays("x", false);
  req.mutable_response_format()->set_type("json_schema");
  req.mutable_response_format()->set_schema_json(bomb);
  EXPECT_EQ(BuildGeminiBody(req).status().code(), absl::StatusCode::kInvalidArgument);
  // A $ref used once per level is expanded as before.
  EXPECT_THAT(*ReduceSchemaForGemini(R"({"$ref":"#/$defs/n","$defs":{"n":{"type":"string"}}})"),
              ::testing::HasSubstr(R"("type":"string")"));
}

TEST(GeminiRequestTest, JsonSchemaIsReducedToWhatGeminiAccepts) {
  const std::string reduced = *ReduceSchemaForGemini(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": false,
    "properties": {
      "name": {"type": ["string", "null"], "default": "x"},
      "kind": {"const": "person"},
      "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}}
    },
    "required": ["name"],
    "$defs": {"tag": {"type": "string", "examples": ["a"], "maxLength": 8}}
  })");
  rapidjson::Document d = Parse(reduced);
  ASSERT_TRUE(d.IsObject()) << reduced;
  EXPECT_FALSE(d.HasMember("$schema"));
  EXPECT_FALSE(d.HasMember("additionalProperties"));
  EXPECT_FALSE(d.HasMember("$defs"));
  EXPECT_STREQ(d["properties"]["name"]["type"].GetString(), "string");
  EXPECT_TRUE(d["properties"]["name"]["nullable"].GetBool());
  EXPECT_FALSE(d["properties"]["name"].HasMember("default"));
  EXPECT_STREQ(d["properties"]["kind"]["enum"][0].GetString(), "person");
  EXPECT_STREQ(d["properties"]["tags"]["items"]["type"].GetString(), "string");
  EXPECT_EQ(d["properties"]["tags"]["items"]["maxLength"].GetInt(), 8);
  EXPECT_FALSE(d["properties"]["tags"]["items"].HasMember("examples"));
  EXPECT_STREQ(d["required"][0].GetString(), "name");

  common::v1::ChatRequest req = UserSays("a person", false);
  req.mutable_response_format()->set_type("json_schema");
  req.mutable_response_format()->set_schema_json(
      R"({"type":"object","additionalProperties":false})");
  rapidjson::Document body = Parse(*BuildGeminiBody(req));
  EXPECT_STREQ(body["generationConfig"]["responseMimeType"].GetString(), "application/json");
  EXPECT_FALSE(body["generationConfig"]["responseSchema"].HasMember("additionalProperties"));
}

TEST(GeminiRequestTest, RefusesWhatItCannotHonour) {
  common::v1::ChatRequest req = UserSays("hi", false);
  req.set_n(3);
  EXPECT_EQ(status::GetErrorInfo(BuildGeminiBody(req).status())->param(), "n");
  req = UserSays("hi", false);
  // Six stops, added as strings: add_stop(const char*) unrolled six times trips GCC 12's
  // -Wstringop-overflow false positive at -O3 (GCC bug 105329).
  const std::string stop = "s";
  for (int i = 0; i < 6; ++i) *req.add_stop() = stop;
  EXPECT_EQ(status::GetErrorInfo(BuildGeminiBody(req).status())->param(), "stop");
}

}  // namespace
}  // namespace aimarket::provider
