#include "services/edge/chat_request_parser.h"

#include "absl/strings/str_cat.h"
#include "common/json/parse.h"
#include "common/json/stack_document.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "services/edge/rest.h"

namespace aimarket::edge {
namespace {

using rapidjson::Value;

using rest::InvalidType;
using rest::InvalidValue;
using rest::Missing;

std::string ToJson(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// All of a string's bytes (GetString() alone would stop at an embedded NUL: "user\u0000x" is not
// "user").
std::string Str(const Value& v) { return std::string(json::View(v)); }

// Identifiers (names, ids) name things for upstreams: a control character (NUL above all, which
// C strings and some upstreams cut at) has no place in one.
bool IsIdentifier(const Value& v) {
  for (const char c : json::View(v)) {
    if (static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

absl::Status CheckIdentifier(const Value& v, const std::string& param) {
  if (IsIdentifier(v)) return absl::OkStatus();
  return InvalidValue(param, "it must not contain control characters");
}

const Value* Find(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

// `cache_control` on a part, a message or a tool (Anthropic's prompt caching): checked, and set
// on `target` (a ContentPart, ChatMessage or Tool) when present.
template <typename Proto>
absl::Status ParseCacheControl(const Value& owner, const std::string& param, Proto& target) {
  const Value* cc = Find(owner, "cache_control");
  if (cc == nullptr) return absl::OkStatus();
  const std::string cp = param + ".cache_control";
  if (!cc->IsObject()) return InvalidType(cp, "an object");
  const Value* type = Find(*cc, "type");
  if (type == nullptr) return Missing(cp + ".type");
  if (!type->IsString() || Str(*type) != "ephemeral") {
    return InvalidValue(cp + ".type", "the only cache_control type is 'ephemeral'");
  }
  const Value* ttl = Find(*cc, "ttl");
  if (ttl != nullptr && (!ttl->IsString() || (Str(*ttl) != "5m" && Str(*ttl) != "1h"))) {
    return InvalidValue(cp + ".ttl", "it must be '5m' or '1h'");
  }
  common::v1::CacheControl& out = *target.mutable_cache_control();
  out.set_type("ephemeral");
  if (ttl != nullptr) out.set_ttl(Str(*ttl));
  return absl::OkStatus();
}

absl::Status ParseContent(const Value& v, const std::string& param, common::v1::ChatMessage& m) {
  if (v.IsString()) {
    m.set_content(Str(v));
    return absl::OkStatus();
  }
  if (!v.IsArray()) return InvalidType(param, "a string or an array of content parts");
  int i = 0;
  for (const Value& part : v.GetArray()) {
    const std::string pp = absl::StrCat(param, "[", i++, "]");
    if (!part.IsObject()) return InvalidType(pp, "an object");
    const Value* type = Find(part, "type");
    if (type == nullptr || !type->IsString()) return Missing(pp + ".type");
    const std::string t = Str(*type);
    if (t == "text" || t == "refusal") {
      const Value* text = Find(part, t == "text" ? "text" : "refusal");
      if (text == nullptr || !text->IsString()) return InvalidType(pp + "." + t, "a string");
      common::v1::ContentPart& out = *m.add_parts();
      out.set_text(Str(*text));
      AIM_RETURN_IF_ERROR(ParseCacheControl(part, pp, out));
    } else if (t == "image_url") {
      const Value* img = Find(part, "image_url");
      if (img == nullptr || !img->IsObject()) return InvalidType(pp + ".image_url", "an object");
      const Value* url = Find(*img, "url");
      if (url == nullptr || !url->IsString()) return InvalidType(pp + ".image_url.url", "a string");
      common::v1::ContentPart& added = *m.add_parts();
      auto* out = added.mutable_image_url();
      out->set_url(Str(*url));
      if (const Value* d = Find(*img, "detail"); d != nullptr && d->IsString())
        out->set_detail(Str(*d));
      AIM_RETURN_IF_ERROR(ParseCacheControl(part, pp, added));
    }
    // Other part types (input_audio, file) reach OpenAI-format upstreams through the original body.
  }
  return absl::OkStatus();
}

absl::Status ParseMessage(const Value& v, int index, common::v1::ChatMessage& m) {
  const std::string param = absl::StrCat("messages[", index, "]");
  if (!v.IsObject()) return InvalidType(param, "an object");
  const Value* role = Find(v, "role");
  if (role == nullptr) return Missing(param + ".role");
  if (!role->IsString()) return InvalidType(param + ".role", "a string");
  const std::string r = Str(*role);
  if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool" &&
      r != "function") {
    return InvalidValue(
        param + ".role",
        absl::StrCat("'", r, "' is not one of system, developer, user, assistant, tool"));
  }
  m.set_role(r);
  AIM_RETURN_IF_ERROR(ParseCacheControl(v, param, m));
  if (const Value* c = Find(v, "content"); c != nullptr) {
    if (absl::Status s = ParseContent(*c, param + ".content", m); !s.ok()) return s;
  } else if (r == "user" || r == "system" || r == "developer" || r == "tool") {
    return Missing(param + ".content");
  }
  if (const Value* n = Find(v, "name"); n != nullptr) {
    if (!n->IsString()) return InvalidType(param + ".name", "a string");
    AIM_RETURN_IF_ERROR(CheckIdentifier(*n, param + ".name"));
    m.set_name(Str(*n));
  }
  if (const Value* id = Find(v, "tool_call_id"); id != nullptr) {
    if (!id->IsString()) return InvalidType(param + ".tool_call_id", "a string");
    AIM_RETURN_IF_ERROR(CheckIdentifier(*id, param + ".tool_call_id"));
    m.set_tool_call_id(Str(*id));
  } else if (r == "tool") {
    return Missing(param + ".tool_call_id");
  }
  if (const Value* tcs = Find(v, "tool_calls"); tcs != nullptr) {
    if (!tcs->IsArray()) return InvalidType(param + ".tool_calls", "an array");
    int i = 0;
    for (const Value& tc : tcs->GetArray()) {
      const std::string tp = absl::StrCat(param, ".tool_calls[", i, "]");
      if (!tc.IsObject()) return InvalidType(tp, "an object");
      common::v1::ToolCall& out = *m.add_tool_calls();
      out.set_index(i++);
      out.set_type("function");
      if (const Value* id = Find(tc, "id"); id != nullptr && id->IsString()) {
        AIM_RETURN_IF_ERROR(CheckIdentifier(*id, tp + ".id"));
        out.set_id(Str(*id));
      }
      const Value* fn = Find(tc, "function");
      if (fn == nullptr || !fn->IsObject()) return Missing(tp + ".function");
      if (const Value* name = Find(*fn, "name"); name != nullptr && name->IsString()) {
        AIM_RETURN_IF_ERROR(CheckIdentifier(*name, tp + ".function.name"));
        out.set_name(Str(*name));
      }
      if (const Value* args = Find(*fn, "arguments"); args != nullptr) {
        if (!args->IsString()) return InvalidType(tp + ".function.arguments", "a string");
        out.set_arguments(Str(*args));
      }
    }
  }
  if (const Value* refusal = Find(v, "refusal"); refusal != nullptr && refusal->IsString()) {
    m.set_refusal(Str(*refusal));
  }
  // The reasoning the gateway returned with an earlier answer, echoed back (docs/providers.md).
  if (r == "assistant") {
    if (const Value* rc = Find(v, "reasoning_content"); rc != nullptr) {
      if (!rc->IsString()) return InvalidType(param + ".reasoning_content", "a string");
      m.set_reasoning_content(Str(*rc));
    }
    if (const Value* sig = Find(v, "reasoning_signature"); sig != nullptr) {
      if (!sig->IsString()) return InvalidType(param + ".reasoning_signature", "a string");
      m.set_reasoning_signature(Str(*sig));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTools(const Value& v, common::v1::ChatRequest& req) {
  if (!v.IsArray()) return InvalidType("tools", "an array");
  int i = 0;
  for (const Value& t : v.GetArray()) {
    const std::string tp = absl::StrCat("tools[", i++, "]");
    if (!t.IsObject()) return InvalidType(tp, "an object");
    const Value* fn = Find(t, "function");
    if (fn == nullptr || !fn->IsObject()) return Missing(tp + ".function");
    const Value* name = Find(*fn, "name");
    if (name == nullptr) return Missing(tp + ".function.name");
    if (!name->IsString()) return InvalidType(tp + ".function.name", "a string");
    common::v1::Tool& out = *req.add_tools();
    out.set_type("function");
    AIM_RETURN_IF_ERROR(CheckIdentifier(*name, tp + ".function.name"));
    out.set_name(Str(*name));
    if (const Value* d = Find(*fn, "description"); d != nullptr && d->IsString())
      out.set_description(Str(*d));
    if (const Value* p = Find(*fn, "parameters"); p != nullptr) {
      if (!p->IsObject()) return InvalidType(tp + ".function.parameters", "an object");
      out.set_parameters_json(ToJson(*p));
    }
    if (const Value* s = Find(*fn, "strict"); s != nullptr && s->IsBool())
      out.set_strict(s->GetBool());
    AIM_RETURN_IF_ERROR(ParseCacheControl(t, tp, out));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<common::v1::ChatRequest> ParseChatRequest(std::string body) {
  json::StackDocument doc;
  rapidjson::Document& d = *doc;
  AIM_RETURN_IF_ERROR(json::Parse(d, body));
  if (!d.IsObject()) {
    return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_JSON",
                         "The request body must be a JSON object.");
  }
  common::v1::ChatRequest req;
  const Value* model = Find(d, "model");
  if (model == nullptr) return Missing("model");
  if (!model->IsString()) return InvalidType("model", "a string");
  if (model->GetStringLength() == 0) return InvalidValue("model", "it must not be empty");
  req.set_model(Str(*model));

  const Value* messages = Find(d, "messages");
  if (messages == nullptr) return Missing("messages");
  if (!messages->IsArray()) return InvalidType("messages", "an array");
  if (messages->Empty()) return InvalidValue("messages", "it must contain at least one message");
  int i = 0;
  for (const Value& m : messages->GetArray()) {
    if (absl::Status s = ParseMessage(m, i, *req.add_messages()); !s.ok()) return s;
    ++i;
  }

  auto boolean = [&](const char* key, auto set) -> absl::Status {
    if (const Value* v = Find(d, key); v != nullptr) {
      if (!v->IsBool()) return InvalidType(key, "a boolean");
      set(v->GetBool());
    }
    return absl::OkStatus();
  };
  auto number = [&](const char* key, double lo, double hi, auto set) -> absl::Status {
    if (const Value* v = Find(d, key); v != nullptr) {
      if (!v->IsNumber()) return InvalidType(key, "a number");
      const double x = v->GetDouble();
      if (x < lo || x > hi)
        return InvalidValue(key, absl::StrCat("it must be between ", lo, " and ", hi));
      set(x);
    }
    return absl::OkStatus();
  };
  // An integer within [lo, hi], checked before anything narrows it (an `n` of 2^32 + 1 is not 1).
  auto integer = [&](const char* key, int64_t lo, int64_t hi, auto set) -> absl::Status {
    if (const Value* v = Find(d, key); v != nullptr) {
      if (!v->IsInt64()) {
        return v->IsNumber() && !v->IsDouble()
                   ? InvalidValue(key, absl::StrCat("it must be between ", lo, " and ", hi))
                   : InvalidType(key, "an integer");
      }
      if (v->GetInt64() < lo || v->GetInt64() > hi)
        return InvalidValue(key, absl::StrCat("it must be between ", lo, " and ", hi));
      set(v->GetInt64());
    }
    return absl::OkStatus();
  };
  AIM_RETURN_IF_ERROR(boolean("stream", [&](bool b) { req.set_stream(b); }));
  if (const Value* so = Find(d, "stream_options"); so != nullptr) {
    if (!so->IsObject()) return InvalidType("stream_options", "an object");
    if (const Value* iu = Find(*so, "include_usage"); iu != nullptr) {
      if (!iu->IsBool()) return InvalidType("stream_options.include_usage", "a boolean");
      req.set_include_usage(iu->GetBool());
    }
  }
  AIM_RETURN_IF_ERROR(number("temperature", 0, 2, [&](double x) { req.set_temperature(x); }));
  AIM_RETURN_IF_ERROR(number("top_p", 0, 1, [&](double x) { req.set_top_p(x); }));
  AIM_RETURN_IF_ERROR(
      number("presence_penalty", -2, 2, [&](double x) { req.set_presence_penalty(x); }));
  AIM_RETURN_IF_ERROR(
      number("frequency_penalty", -2, 2, [&](double x) { req.set_frequency_penalty(x); }));
  AIM_RETURN_IF_ERROR(
      integer("n", 1, kMaxChoices, [&](int64_t x) { req.set_n(static_cast<int32_t>(x)); }));
  AIM_RETURN_IF_ERROR(
      integer("max_tokens", 1, kMaxOutputTokens, [&](int64_t x) { req.set_max_tokens(x); }));
  AIM_RETURN_IF_ERROR(integer("max_completion_tokens", 1, kMaxOutputTokens,
                              [&](int64_t x) { req.set_max_tokens(x); }));
  AIM_RETURN_IF_ERROR(integer("seed", INT64_MIN, INT64_MAX, [&](int64_t x) { req.set_seed(x); }));
  AIM_RETURN_IF_ERROR(boolean("logprobs", [&](bool b) { req.set_logprobs(b); }));
  AIM_RETURN_IF_ERROR(integer("top_logprobs", 0, kMaxTopLogprobs,
                              [&](int64_t x) { req.set_top_logprobs(static_cast<int32_t>(x)); }));
  AIM_RETURN_IF_ERROR(
      boolean("parallel_tool_calls", [&](bool b) { req.set_parallel_tool_calls(b); }));
  if (const Value* stop = Find(d, "stop"); stop != nullptr) {
    if (stop->IsString()) {
      req.add_stop(Str(*stop));
    } else if (stop->IsArray()) {
      for (const Value& s : stop->GetArray()) {
        if (!s.IsString()) return InvalidType("stop", "a string or an array of strings");
        req.add_stop(Str(s));
      }
    } else {
      return InvalidType("stop", "a string or an array of strings");
    }
  }
  if (const Value* tools = Find(d, "tools"); tools != nullptr) {
    if (absl::Status s = ParseTools(*tools, req); !s.ok()) return s;
  }
  if (const Value* tc = Find(d, "tool_choice"); tc != nullptr) {
    if (!tc->IsString() && !tc->IsObject())
      return InvalidType("tool_choice", "a string or an object");
    req.set_tool_choice_json(ToJson(*tc));
  }
  if (const Value* rf = Find(d, "response_format"); rf != nullptr) {
    if (!rf->IsObject()) return InvalidType("response_format", "an object");
    const Value* type = Find(*rf, "type");
    if (type == nullptr) return Missing("response_format.type");
    if (!type->IsString()) return InvalidType("response_format.type", "a string");
    const std::string t = Str(*type);
    if (t != "text" && t != "json_object" && t != "json_schema") {
      return InvalidValue("response_format.type", "expected text, json_object or json_schema");
    }
    req.mutable_response_format()->set_type(t);
    if (const Value* js = Find(*rf, "json_schema"); js != nullptr && js->IsObject()) {
      if (const Value* n = Find(*js, "name"); n != nullptr && n->IsString()) {
        req.mutable_response_format()->set_schema_name(Str(*n));
      }
      if (const Value* s = Find(*js, "schema"); s != nullptr)
        req.mutable_response_format()->set_schema_json(ToJson(*s));
      if (const Value* s = Find(*js, "strict"); s != nullptr && s->IsBool()) {
        req.mutable_response_format()->set_strict(s->GetBool());
      }
    }
  }
  if (const Value* user = Find(d, "user"); user != nullptr) {
    if (!user->IsString()) return InvalidType("user", "a string");
    req.set_user(Str(*user));
  }
  if (const Value* effort = Find(d, "reasoning_effort"); effort != nullptr) {
    if (!effort->IsString()) return InvalidType("reasoning_effort", "a string");
    const std::string e = Str(*effort);
    if (e != "none" && e != "minimal" && e != "low" && e != "medium" && e != "high") {
      return InvalidValue("reasoning_effort",
                          absl::StrCat("'", e, "' is not one of none, minimal, low, medium, high"));
    }
    req.set_reasoning_effort(e);
  }
  if (const Value* md = Find(d, "metadata"); md != nullptr && !md->IsObject()) {
    return InvalidType("metadata", "an object");
  }
  req.set_original_json(std::move(body));
  return req;
}

}  // namespace aimarket::edge
