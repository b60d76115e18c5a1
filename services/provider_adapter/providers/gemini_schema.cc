#include "services/provider_adapter/providers/gemini_schema.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {
namespace {

using rapidjson::Value;

constexpr int kMaxDepth = 32;

const std::set<std::string>& SchemaKeywords() {
  static const auto* k = new std::set<std::string>{
      "type",       "format",    "description", "nullable", "enum",     "items",
      "properties", "required",  "anyOf",       "minItems", "maxItems", "minimum",
      "maximum",    "minLength", "maxLength",   "pattern",  "title",    "propertyOrdering"};
  return *k;
}

// The schema a local `$ref` ("#/a/b") points to; `schema` itself when it has none or it does not
// resolve.
const Value* ResolveRef(const Value& root, const Value& schema) {
  const Value* ref = Member(schema, "$ref");
  if (ref == nullptr || !ref->IsString()) return &schema;
  absl::string_view path = ref->GetString();
  if (!absl::ConsumePrefix(&path, "#/")) return &schema;
  const Value* at = &root;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    at = Member(*at, std::string(part).c_str());
    if (at == nullptr) return &schema;
  }
  return at;
}

// `$ref`s are expanded in place, so a schema that refers to itself twice per level doubles at
// every level: the output is capped (`too_big`), not just the depth.
void WriteSchema(JsonWriter& w, const rapidjson::StringBuffer& out, const Value& root,
                 const Value& in, int depth, bool& too_big) {
  if (out.GetSize() > kMaxReducedSchemaBytes) too_big = true;
  const Value& s = too_big ? in : *ResolveRef(root, in);
  if (too_big || !s.IsObject() || depth > kMaxDepth) {
    w.StartObject();
    w.EndObject();
    return;
  }
  w.StartObject();
  bool nullable = false;
  for (auto it = s.MemberBegin(); it != s.MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    const Value& v = it->value;
    if (key == "const") {
      WriteKey(w, "enum");
      w.StartArray();
      v.Accept(w);
      w.EndArray();
      continue;
    }
    if (!SchemaKeywords().contains(key)) continue;
    if (key == "type" && v.IsArray()) {  // ["string", "null"] → string + nullable
      std::string type;
      for (const Value& t : v.GetArray()) {
        if (!t.IsString()) continue;
        if (std::string(t.GetString()) == "null") {
          nullable = true;
        } else if (type.empty()) {
          type = t.GetString();
        }
      }
      WriteKey(w, "type");
      WriteStr(w, type.empty() ? "string" : type);
    } else if (key == "properties" && v.IsObject()) {
      WriteKey(w, "properties");
      w.StartObject();
      for (auto p = v.MemberBegin(); p != v.MemberEnd(); ++p) {
        w.Key(p->name.GetString(), p->name.GetStringLength());
        WriteSchema(w, out, root, p->value, depth + 1, too_big);
      }
      w.EndObject();
    } else if (key == "items") {
      WriteKey(w, "items");
      WriteSchema(w, out, root, v, depth + 1, too_big);
    } else if (key == "anyOf" && v.IsArray()) {
      WriteKey(w, "anyOf");
      w.StartArray();
      for (const Value& a : v.GetArray()) WriteSchema(w, out, root, a, depth + 1, too_big);
      w.EndArray();
    } else {
      WriteKey(w, key);
      v.Accept(w);
    }
  }
  if (nullable && !s.HasMember("nullable")) {
    WriteKey(w, "nullable");
    w.Bool(true);
  }
  w.EndObject();
}

}  // namespace

absl::StatusOr<std::string> ReduceSchemaForGemini(const std::string& schema_json,
                                                  absl::string_view param) {
  rapidjson::Document d;
  if (!json::ParseBounded(d, schema_json)) return std::string(R"({"type":"object"})");
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  bool too_big = false;
  WriteSchema(w, buf, d, d, 0, too_big);
  if (too_big) {
    return status::Error(
               absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
               absl::StrCat("Invalid value for '", param,
                            "': with its $refs expanded the schema is larger than ",
                            kMaxReducedSchemaBytes >> 10, " KiB, more than Gemini can be sent."))
        .Param(param);
  }
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace aimarket::provider
