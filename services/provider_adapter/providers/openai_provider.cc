#include "services/provider_adapter/providers/openai_provider.h"

#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/json/stack_document.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "common/status/status_macros.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "services/provider_adapter/providers/translate_util.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {
namespace {

using rapidjson::Document;
using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteString(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// Writes a JSON text that is already serialized (tool parameters, tool_choice) as a value.
void WriteRaw(Writer& w, const std::string& json) {
  Document d;
  if (!json::ParseBounded(d, json)) {
    WriteString(w, json);
  } else {
    d.Accept(w);
  }
}

void WriteMessage(Writer& w, const common::v1::ChatMessage& m) {
  w.StartObject();
  w.Key("role");
  WriteString(w, m.role());
  w.Key("content");
  if (m.parts_size() > 0) {
    w.StartArray();
    for (const auto& p : m.parts()) {
      w.StartObject();
      if (p.has_image_url()) {
        w.Key("type");
        w.String("image_url");
        w.Key("image_url");
        w.StartObject();
        w.Key("url");
        WriteString(w, p.image_url().url());
        if (!p.image_url().detail().empty()) {
          w.Key("detail");
          WriteString(w, p.image_url().detail());
        }
        w.EndObject();
      } else {
        w.Key("type");
        w.String("text");
        w.Key("text");
        WriteString(w, p.text());
      }
      w.EndObject();
    }
    w.EndArray();
  } else if (m.content().empty() && m.tool_calls_size() > 0) {
    w.Null();
  } else {
    WriteString(w, m.content());
  }
  if (!m.name().empty()) {
    w.Key("name");
    WriteString(w, m.name());
  }
  if (!m.tool_call_id().empty()) {
    w.Key("tool_call_id");
    WriteString(w, m.tool_call_id());
  }
  if (m.tool_calls_size() > 0) {
    w.Key("tool_calls");
    w.StartArray();
    for (const auto& tc : m.tool_calls()) {
      w.StartObject();
      w.Key("id");
      WriteString(w, tc.id());
      w.Key("type");
      w.String("function");
      w.Key("function");
      w.StartObject();
      w.Key("name");
      WriteString(w, tc.name());
      w.Key("arguments");
      WriteString(w, tc.arguments());
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

// Serializes a request that came without the client's JSON (an internal gRPC caller).
std::string FromStructured(const common::v1::ChatRequest& req, const std::string& model) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("model");
  WriteString(w, model);
  w.Key("messages");
  w.StartArray();
  for (const auto& m : req.messages()) WriteMessage(w, m);
  w.EndArray();
  if (req.has_temperature()) {
    w.Key("temperature");
    w.Double(req.temperature());
  }
  if (req.has_top_p()) {
    w.Key("top_p");
    w.Double(req.top_p());
  }
  if (req.has_max_tokens()) {
    w.Key("max_completion_tokens");
    w.Int64(req.max_tokens());
  }
  if (req.n() > 1) {
    w.Key("n");
    w.Int(req.n());
  }
  if (req.stop_size() > 0) {
    w.Key("stop");
    w.StartArray();
    for (const auto& s : req.stop()) WriteString(w, s);
    w.EndArray();
  }
  if (req.has_seed()) {
    w.Key("seed");
    w.Int64(req.seed());
  }
  if (req.has_presence_penalty()) {
    w.Key("presence_penalty");
    w.Double(req.presence_penalty());
  }
  if (req.has_frequency_penalty()) {
    w.Key("frequency_penalty");
    w.Double(req.frequency_penalty());
  }
  if (req.logprobs()) {
    w.Key("logprobs");
    w.Bool(true);
    if (req.top_logprobs() > 0) {
      w.Key("top_logprobs");
      w.Int(req.top_logprobs());
    }
  }
  if (req.tools_size() > 0) {
    w.Key("tools");
    w.StartArray();
    for (const auto& t : req.tools()) {
      w.StartObject();
      w.Key("type");
      w.String("function");
      w.Key("function");
      w.StartObject();
      w.Key("name");
      WriteString(w, t.name());
      if (!t.description().empty()) {
        w.Key("description");
        WriteString(w, t.description());
      }
      if (!t.parameters_json().empty()) {
        w.Key("parameters");
        WriteRaw(w, t.parameters_json());
      }
      if (t.strict()) {
        w.Key("strict");
        w.Bool(true);
      }
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
  }
  if (!req.tool_choice_json().empty()) {
    w.Key("tool_choice");
    WriteRaw(w, req.tool_choice_json());
  }
  if (req.has_parallel_tool_calls()) {
    w.Key("parallel_tool_calls");
    w.Bool(req.parallel_tool_calls());
  }
  if (!req.response_format().type().empty()) {
    w.Key("response_format");
    w.StartObject();
    w.Key("type");
    WriteString(w, req.response_format().type());
    if (req.response_format().type() == "json_schema") {
      w.Key("json_schema");
      w.StartObject();
      w.Key("name");
      WriteString(w, req.response_format().schema_name().empty()
                         ? "response"
                         : req.response_format().schema_name());
      w.Key("schema");
      WriteRaw(w, req.response_format().schema_json());
      if (req.response_format().strict()) {
        w.Key("strict");
        w.Bool(true);
      }
      w.EndObject();
    }
    w.EndObject();
  }
  if (!req.user().empty()) {
    w.Key("user");
    WriteString(w, req.user());
  }
  if (!req.reasoning_effort().empty()) {
    w.Key("reasoning_effort");
    WriteString(w, req.reasoning_effort());
  }
  w.Key("stream");
  w.Bool(req.stream());
  if (req.stream()) {
    w.Key("stream_options");
    w.StartObject();
    w.Key("include_usage");
    w.Bool(true);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void SetMember(Document& d, const char* key, Value v) {
  auto& alloc = d.GetAllocator();
  auto it = d.FindMember(key);
  if (it != d.MemberEnd()) {
    it->value = std::move(v);
  } else {
    d.AddMember(Value(key, alloc), std::move(v), alloc);
  }
}

void ParseUsage(const Value& u, common::v1::Usage& out) {
  auto num = [&u](const char* k) -> int64_t {
    auto it = u.FindMember(k);
    return it != u.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
  };
  out.set_prompt_tokens(num("prompt_tokens"));
  out.set_completion_tokens(num("completion_tokens"));
  out.set_total_tokens(num("total_tokens"));
  if (auto d = u.FindMember("prompt_tokens_details"); d != u.MemberEnd() && d->value.IsObject()) {
    auto c = d->value.FindMember("cached_tokens");
    if (c != d->value.MemberEnd() && c->value.IsInt64()) out.set_cached_tokens(c->value.GetInt64());
  }
  if (auto d = u.FindMember("completion_tokens_details");
      d != u.MemberEnd() && d->value.IsObject()) {
    auto r = d->value.FindMember("reasoning_tokens");
    if (r != d->value.MemberEnd() && r->value.IsInt64())
      out.set_reasoning_tokens(r->value.GetInt64());
  }
}

// Fills the structured fields the gateway needs (usage, finish reasons) from an OpenAI object.
void Annotate(const Value& obj, common::v1::ChatEvent& ev) {
  if (auto u = obj.FindMember("usage"); u != obj.MemberEnd() && u->value.IsObject()) {
    ParseUsage(u->value, *ev.mutable_usage());
  }
  if (auto c = obj.FindMember("choices"); c != obj.MemberEnd() && c->value.IsArray()) {
    // The usage chunk the gateway asked for: "choices": [] beside "usage".
    ev.set_usage_only(ev.has_usage() && c->value.Empty() && !ev.completion());
    for (const auto& choice : c->value.GetArray()) {
      if (!choice.IsObject()) continue;
      auto f = choice.FindMember("finish_reason");
      if (f == choice.MemberEnd() || !f->value.IsString()) continue;
      common::v1::ChoiceDelta& d = *ev.add_choices();
      auto i = choice.FindMember("index");
      d.set_index(i != choice.MemberEnd() && i->value.IsInt() ? i->value.GetInt() : 0);
      d.set_finish_reason(f->value.GetString());
    }
  }
  if (auto m = obj.FindMember("model"); m != obj.MemberEnd() && m->value.IsString())
    ev.set_model(m->value.GetString());
  if (auto id = obj.FindMember("id"); id != obj.MemberEnd() && id->value.IsString())
    ev.set_id(id->value.GetString());
}

// An error object {"message","type","param","code"} (OpenAI's, inside "error") as a status.
absl::Status ErrorFromObject(absl::string_view provider, int http_status, const Value& e,
                             absl::string_view retry_after) {
  if (std::optional<absl::Status> s = GatewayAuthoredFailure(provider, http_status)) {
    return *std::move(s);
  }
  auto str = [&e](const char* k) -> std::string {
    auto it = e.FindMember(k);
    return it != e.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
  };
  std::string message = str("message");
  if (message.empty())
    message = absl::StrCat("upstream ", provider, " failed with HTTP ", http_status);
  const int mapped = ClientHttpStatus(http_status);
  // The upstream's code as it is (null stays null): the edge writes the reason back lower-cased.
  status::Error err(CodeForHttp(http_status), absl::AsciiStrToUpper(str("code")), message);
  err.HttpStatus(mapped).Domain(absl::StrCat("provider.", provider));
  if (std::string type = str("type"); !type.empty()) err.Type(type);
  if (std::string param = str("param"); !param.empty()) err.Param(param);
  if (std::optional<absl::Duration> d = ParseRetryAfter(retry_after)) err.RetryAfter(*d);
  return err;
}

// OpenAI's answer is already in OpenAI's shape: each chunk goes out verbatim, with usage and finish
// reasons read beside it.
class OpenAiTranslator final : public Translator {
 public:
  OpenAiTranslator(std::string provider, bool strict_done)
      : Translator(std::move(provider)), strict_done_(strict_done) {}

  absl::Status OnEvent(absl::string_view, absl::string_view data, EventSink& out) override {
    if (done_) return absl::OkStatus();
    if (data == "[DONE]") {
      done_ = true;
      return absl::OkStatus();
    }
    json::StackDocument doc;
    Document& d = *doc;
    // The event goes out verbatim, so it must be valid UTF-8 as well as a JSON object.
    if (!json::ParseBounded(d, data, /*validate_utf8=*/true) || !d.IsObject()) {
      return BadResponse(provider(), "a stream event that is not a JSON object in valid UTF-8");
    }
    if (auto e = d.FindMember("error"); e != d.MemberEnd() && e->value.IsObject()) {
      int http = 500;
      if (auto c = e->value.FindMember("code"); c != e->value.MemberEnd() && c->value.IsInt())
        http = c->value.GetInt();
      return ErrorFromObject(provider(), http, e->value, "");
    }
    common::v1::ChatEvent ev;
    ev.set_raw_json(std::string(data));
    Annotate(d, ev);
    out.Emit(std::move(ev));
    return absl::OkStatus();
  }

  absl::Status OnEnd(absl::string_view, EventSink&) override {
    if (!done_ && strict_done_) {
      return status::Error(absl::StatusCode::kUnavailable, status::reason::kUpstreamDisconnected,
                           absl::StrCat("the ", provider(), " stream ended without [DONE]"))
          .HttpStatus(502);
    }
    return absl::OkStatus();
  }

  absl::Status OnBody(std::string body, EventSink& out) override {
    json::StackDocument doc;
    Document& d = *doc;
    if (!json::ParseBounded(d, body, /*validate_utf8=*/true) || !d.IsObject()) {
      return BadResponse(provider(), "an answer that is not a JSON object in valid UTF-8");
    }
    common::v1::ChatEvent ev;
    ev.set_completion(true);
    Annotate(d, ev);
    ev.set_raw_json(std::move(body));
    out.Emit(std::move(ev));
    return absl::OkStatus();
  }

  absl::Status OnHttpError(int http_status, absl::string_view body,
                           absl::string_view retry_after) override {
    return UpstreamHttpError(provider(), http_status, body, retry_after);
  }

 private:
  const bool strict_done_;
  bool done_ = false;
};

}  // namespace

std::string BuildOpenAiBody(const common::v1::ChatRequest& req, const std::string& upstream_model) {
  if (req.original_json().empty()) return FromStructured(req, upstream_model);
  json::StackDocument doc;
  Document& d = *doc;
  // Checked strictly where it came in (the edge, the router's gRPC service: no duplicate "model"
  // the rewrite below could miss); here only bounded.
  if (!json::ParseBounded(d, req.original_json()) || !d.IsObject()) {
    return FromStructured(req, upstream_model);
  }
  auto& alloc = d.GetAllocator();
  SetMember(
      d, "model",
      Value(upstream_model.data(), static_cast<rapidjson::SizeType>(upstream_model.size()), alloc));
  SetMember(d, "stream", Value(req.stream()));
  if (req.stream()) {
    auto so = d.FindMember("stream_options");
    if (so == d.MemberEnd() || !so->value.IsObject()) {
      Value o(rapidjson::kObjectType);
      o.AddMember("include_usage", true, alloc);
      SetMember(d, "stream_options", std::move(o));
    } else if (auto iu = so->value.FindMember("include_usage"); iu != so->value.MemberEnd()) {
      iu->value = Value(true);
    } else {
      so->value.AddMember("include_usage", true, alloc);
    }
  } else if (d.HasMember("stream_options")) {
    d.RemoveMember("stream_options");  // OpenAI rejects stream_options without stream.
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  d.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

absl::Status UpstreamHttpError(absl::string_view provider, int http_status, absl::string_view body,
                               absl::string_view retry_after) {
  Document d;
  if (ParseErrorBody(body, d) && d.IsObject()) {
    if (auto e = d.FindMember("error"); e != d.MemberEnd() && e->value.IsObject()) {
      return ErrorFromObject(provider, http_status, e->value, retry_after);
    }
  }
  Value empty(rapidjson::kObjectType);
  return ErrorFromObject(provider, http_status, empty, retry_after);
}

namespace {

absl::StatusOr<HttpCallRequest> OpenAiChat(const HttpProvider& p, const std::string& upstream_model,
                                           const common::v1::ChatRequest& req) {
  return p.endpoint().Post(req, "/chat/completions", BuildOpenAiBody(req, upstream_model));
}

// openai: a stream must end with [DONE]; openai-compatible servers may not send it.
std::unique_ptr<Translator> NewOpenAiTranslator(const HttpProvider& p, const std::string&) {
  return std::make_unique<OpenAiTranslator>(p.config().name(),
                                            p.config().type() == config::v1::PROVIDER_TYPE_OPENAI);
}

// The client's body (token arrays and unknown fields included), with the upstream's model and
// floats asked for: the edge encodes base64 itself.
absl::StatusOr<HttpCallRequest> OpenAiEmbed(const HttpProvider& p,
                                            const std::string& upstream_model,
                                            const common::v1::EmbedRequest& req) {
  Document d;
  if (req.original_json().empty() || !json::ParseBounded(d, req.original_json()) || !d.IsObject()) {
    d.SetObject();
    Value input(rapidjson::kArrayType);
    for (const std::string& s : req.input())
      input.PushBack(Value(s.c_str(), d.GetAllocator()), d.GetAllocator());
    d.AddMember("input", std::move(input), d.GetAllocator());
    if (req.dimensions() > 0) d.AddMember("dimensions", req.dimensions(), d.GetAllocator());
    if (!req.user().empty())
      d.AddMember("user", Value(req.user().c_str(), d.GetAllocator()), d.GetAllocator());
  }
  auto& alloc = d.GetAllocator();
  SetMember(
      d, "model",
      Value(upstream_model.data(), static_cast<rapidjson::SizeType>(upstream_model.size()), alloc));
  SetMember(d, "encoding_format", Value("float"));
  return p.endpoint().Post(req.request_id(), "/embeddings", ToJson(d));
}

absl::StatusOr<common::v1::EmbedResponse> ReadOpenAiEmbeddings(const HttpProvider& p,
                                                               const std::string& upstream_model,
                                                               absl::string_view body) {
  return ParseOpenAiEmbeddings(p.config().name(), body, upstream_model);
}

constexpr WireFormat kOpenAi = {.chat = &OpenAiChat,
                                .translator = &NewOpenAiTranslator,
                                .health_path = "/models",
                                .embed = &OpenAiEmbed,
                                .read_embeddings = &ReadOpenAiEmbeddings};

}  // namespace

OpenAiProvider::OpenAiProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                               absl::string_view api_key)
    : HttpProvider(config, http, kOpenAi, {BearerAuth(api_key)}) {}

}  // namespace aimarket::provider
