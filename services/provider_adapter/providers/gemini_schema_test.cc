#include "services/provider_adapter/providers/gemini_schema.h"

#include <rapidjson/document.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::provider {
namespace {

rapidjson::Document Reduced(const std::string& schema) {
  absl::StatusOr<std::string> out = ReduceSchemaForGemini(schema);
  EXPECT_TRUE(out.ok()) << out.status();
  rapidjson::Document d;
  d.Parse(out.ok() ? out->c_str() : "null");
  return d;
}

TEST(GeminiSchemaTest, KeepsOnlyWhatGeminiAccepts) {
  rapidjson::Document d = Reduced(R"({"type":"object","strict":true,"title":"T",
    "description":"d","minProperties":1,"patternProperties":{"^x":{}},"oneOf":[{}],
    "properties":{"n":{"type":"integer","minimum":0,"maximum":9,"multipleOf":3,"format":"int32"}}})");
  ASSERT_TRUE(d.IsObject());
  for (const char* gone : {"strict", "minProperties", "patternProperties", "oneOf"}) {
    EXPECT_FALSE(d.HasMember(gone)) << gone;
  }
  EXPECT_STREQ(d["title"].GetString(), "T");
  EXPECT_STREQ(d["description"].GetString(), "d");
  const auto& n = d["properties"]["n"];
  EXPECT_EQ(n["minimum"].GetInt(), 0);
  EXPECT_EQ(n["maximum"].GetInt(), 9);
  EXPECT_STREQ(n["format"].GetString(), "int32");
  EXPECT_FALSE(n.HasMember("multipleOf"));
}

TEST(GeminiSchemaTest, NullableTypesAndConst) {
  rapidjson::Document d = Reduced(R"({"type":"object","properties":{
    "a":{"type":["null","integer"]},
    "b":{"type":["null"]},
    "c":{"type":["string","null"],"nullable":false},
    "d":{"const":3}}})");
  const auto& p = d["properties"];
  EXPECT_STREQ(p["a"]["type"].GetString(), "integer");
  EXPECT_TRUE(p["a"]["nullable"].GetBool());
  // Only "null": a string that may be null.
  EXPECT_STREQ(p["b"]["type"].GetString(), "string");
  EXPECT_TRUE(p["b"]["nullable"].GetBool());
  // A nullable the client stated is kept as stated, not doubled.
  EXPECT_FALSE(p["c"]["nullable"].GetBool());
  EXPECT_EQ(p["d"]["enum"].Size(), 1u);
  EXPECT_EQ(p["d"]["enum"][0].GetInt(), 3);
}

TEST(GeminiSchemaTest, RefsResolveInsideAnyOfAndItems) {
  rapidjson::Document d = Reduced(R"({"anyOf":[{"$ref":"#/definitions/id"},{"type":"null"}],
    "items":{"$ref":"#/definitions/id"},"definitions":{"id":{"type":"string","pattern":"^i"}}})");
  ASSERT_TRUE(d.HasMember("anyOf"));
  EXPECT_STREQ(d["anyOf"][0]["type"].GetString(), "string");
  EXPECT_STREQ(d["anyOf"][0]["pattern"].GetString(), "^i");
  EXPECT_STREQ(d["items"]["type"].GetString(), "string");
  EXPECT_FALSE(d.HasMember("definitions"));
}

TEST(GeminiSchemaTest, UnresolvableAndRemoteRefsBecomeEmptySchemas) {
  rapidjson::Document d = Reduced(R"({"type":"object","properties":{
    "missing":{"$ref":"#/$defs/nothing"},
    "remote":{"$ref":"https://example.com/schema.json"}}})");
  EXPECT_TRUE(d["properties"]["missing"].IsObject());
  EXPECT_EQ(d["properties"]["missing"].MemberCount(), 0u);
  EXPECT_EQ(d["properties"]["remote"].MemberCount(), 0u);
}

TEST(GeminiSchemaTest, NestingPastTheCapIsCutNotRecursedForever) {
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += R"({"type":"array","items":)";
  deep += R"({"type":"string"})";
  for (int i = 0; i < 40; ++i) deep += "}";
  rapidjson::Document d = Reduced(deep);
  const rapidjson::Value* at = &d;
  int levels = 0;
  while (at->IsObject() && at->HasMember("items")) {
    at = &(*at)["items"];
    ++levels;
  }
  EXPECT_EQ(levels, 33);
  EXPECT_EQ(at->MemberCount(), 0u);  // the level past the cap is {}
}

TEST(GeminiSchemaTest, WhatIsNotASchemaObject) {
  EXPECT_EQ(*ReduceSchemaForGemini("not json"), R"({"type":"object"})");
  EXPECT_EQ(*ReduceSchemaForGemini("[1,2]"), "{}");
  EXPECT_EQ(*ReduceSchemaForGemini("{}"), "{}");
}

TEST(GeminiSchemaTest, ExpansionCapNamesTheParam) {
  // Each level refers to the next twice: 2^20 leaves unless capped.
  std::string defs;
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&defs, i ? "," : "", "\"d", i,
                    R"(":{"type":"object","properties":{"a":{"$ref":"#/$defs/d)", i + 1,
                    R"("},"b":{"$ref":"#/$defs/d)", i + 1, R"("}}})");
  }
  absl::StrAppend(&defs, R"(,"d20":{"type":"string","description":")", std::string(64, 'x'), "\"}");
  const std::string schema = absl::StrCat(R"({"$ref":"#/$defs/d0","$defs":{)", defs, "}}");
  absl::StatusOr<std::string> out = ReduceSchemaForGemini(schema, "tools[2].function.parameters");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status::GetErrorInfo(out.status())->param(), "tools[2].function.parameters");
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr("256 KiB"));
}

}  // namespace
}  // namespace aimarket::provider
