#include "services/provider_adapter/providers/openai_provider.h"

#include "common/status/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace aimarket::provider {
namespace {

using ::testing::HasSubstr;

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  return d;
}

TEST(OpenAiBodyTest, KeepsEveryFieldAndRewritesOnlyWhatItMust) {
  common::v1::ChatRequest req;
  req.set_stream(true);
  req.set_original_json(
      R"({"model":"public","messages":[{"role":"user","content":"hi"}],"seed":3,"logit_bias":{"50256":-100},)"
      R"("future_field":[1,2],"stream":true})");
  rapidjson::Document d = Parse(BuildOpenAiBody(req, "gpt-4o-2024-08-06"));
  ASSERT_TRUE(d.IsObject());
  EXPECT_STREQ(d["model"].GetString(), "gpt-4o-2024-08-06");
  EXPECT_EQ(d["seed"].GetInt(), 3);
  EXPECT_EQ(d["logit_bias"]["50256"].GetInt(), -100);
  EXPECT_EQ(d["future_field"].Size(), 2u);
  EXPECT_TRUE(d["stream"].GetBool());
  EXPECT_TRUE(
      d["stream_options"]["include_usage"].GetBool());  // Forced on: every stream is metered.
}

TEST(OpenAiBodyTest, NoStreamOptionsWithoutStream) {
  common::v1::ChatRequest req;
  req.set_original_json(R"({"model":"m","messages":[],"stream_options":{"include_usage":true}})");
  rapidjson::Document d = Parse(BuildOpenAiBody(req, "up"));
  EXPECT_FALSE(d.HasMember("stream_options"));
  EXPECT_FALSE(d["stream"].GetBool());
}

TEST(OpenAiBodyTest, StructuredRequestsAreSerialized) {
  common::v1::ChatRequest req;
  req.set_model("public");
  auto* m = req.add_messages();
  m->set_role("user");
  m->set_content("hello");
  auto* a = req.add_messages();
  a->set_role("assistant");
  auto* tc = a->add_tool_calls();
  tc->set_id("call_1");
  tc->set_name("f");
  tc->set_arguments("{}");
  req.set_temperature(0.5);
  req.set_max_tokens(64);
  auto* tool = req.add_tools();
  tool->set_name("f");
  tool->set_parameters_json(R"({"type":"object"})");
  rapidjson::Document d = Parse(BuildOpenAiBody(req, "up"));
  ASSERT_TRUE(d.IsObject());
  EXPECT_STREQ(d["model"].GetString(), "up");
  EXPECT_STREQ(d["messages"][0]["content"].GetString(), "hello");
  EXPECT_TRUE(d["messages"][1]["content"].IsNull());
  EXPECT_STREQ(d["messages"][1]["tool_calls"][0]["function"]["name"].GetString(), "f");
  EXPECT_DOUBLE_EQ(d["temperature"].GetDouble(), 0.5);
  EXPECT_EQ(d["max_completion_tokens"].GetInt(), 64);
  EXPECT_STREQ(d["tools"][0]["function"]["parameters"]["type"].GetString(), "object");
}

TEST(UpstreamHttpErrorTest, KeepsStatusTypeCodeParamAndRetryAfter) {
  absl::Status s = UpstreamHttpError(
      "openai", 429,
      R"({"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
      "1.4");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  auto info = status::GetErrorInfo(s);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->http_status(), 429);
  EXPECT_EQ(info->type(), "tokens");
  EXPECT_EQ(info->reason(), "RATE_LIMIT_EXCEEDED");
  EXPECT_EQ(info->retry_after().seconds(), 1);
  EXPECT_EQ(info->retry_after().nanos(), 400000000);
  EXPECT_THAT(std::string(s.message()), HasSubstr("Rate limit reached"));

  absl::Status overloaded = UpstreamHttpError("compat", 529, "not json", "");
  EXPECT_EQ(status::GetErrorInfo(overloaded)->http_status(), 503);
  EXPECT_EQ(overloaded.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace aimarket::provider
