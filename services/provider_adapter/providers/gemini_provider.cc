#include "services/provider_adapter/providers/gemini_provider.h"

#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/json/stack_document.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/translate_util.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "gemini";

using rapidjson::Document;
using rapidjson::Value;

// --- Schemas.

const std::set<std::string>& SchemaKeywords() {
  static const auto* k = new std::set<std::string>{
      "type",       "format",    "description", "nullable", "enum",     "items",
      "properties", "required",  "anyOf",       "minItems", "maxItems", "minimum",
      "maximum",    "minLength", "maxLength",   "pattern",  "title",    "propertyOrdering"};
  return *k;
}

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

// What a reduced schema may grow to. `$ref`s are expanded in place, so a schema that refers to
// itself twice per level doubles at every level: the output is capped, not just the depth.
constexpr size_t kMaxReducedSchemaBytes = 256 << 10;

void WriteSchema(JsonWriter& w, const rapidjson::StringBuffer& out, const Value& root,
                 const Value& in, int depth, bool& too_big) {
  if (out.GetSize() > kMaxReducedSchemaBytes) too_big = true;
  const Value& s = too_big ? in : *ResolveRef(root, in);
  if (too_big || !s.IsObject() || depth > 32) {
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

// --- Requests.

struct Turn {
  std::string role;  // user | model
  std::vector<std::string> parts;
};

std::string TextPart(absl::string_view text) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "text");
  WriteStr(w, text);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<std::string> ImagePart(const common::v1::ImageUrl& image, const std::string& param) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  if (std::optional<DataUrl> data = ParseDataUrl(image.url()); data.has_value()) {
    WriteKey(w, "inlineData");
    w.StartObject();
    WriteKey(w, "mimeType");
    WriteStr(w, data->mime_type);
    WriteKey(w, "data");
    WriteStr(w, data->base64);
    w.EndObject();
  } else if (absl::StartsWith(image.url(), "https://") ||
             absl::StartsWith(image.url(), "http://")) {
    // Gemini reads a fileData URI itself; the MIME type is guessed from the extension.
    std::string mime = "image/jpeg";
    const std::string lower = absl::AsciiStrToLower(image.url());
    if (absl::StrContains(lower, ".png"))
      mime = "image/png";
    else if (absl::StrContains(lower, ".webp"))
      mime = "image/webp";
    else if (absl::StrContains(lower, ".gif"))
      mime = "image/gif";
    WriteKey(w, "fileData");
    w.StartObject();
    WriteKey(w, "mimeType");
    WriteStr(w, mime);
    WriteKey(w, "fileUri");
    WriteStr(w, image.url());
    w.EndObject();
  } else {
    return InvalidImageUrl(param);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void Push(std::vector<Turn>& turns, Turn t) {
  if (!turns.empty() && turns.back().role == t.role) {
    for (std::string& p : t.parts) turns.back().parts.push_back(std::move(p));
    return;
  }
  turns.push_back(std::move(t));
}

absl::Status WriteToolConfig(JsonWriter& w, const common::v1::ChatRequest& req) {
  if (req.tool_choice_json().empty()) return absl::OkStatus();
  Document d;
  (void)json::ParseBounded(d, req.tool_choice_json());
  std::string mode;
  std::string only;
  if (d.IsString()) {
    const std::string c = d.GetString();
    if (c == "auto")
      mode = "AUTO";
    else if (c == "none")
      mode = "NONE";
    else if (c == "required")
      mode = "ANY";
  } else if (const Value* fn = Member(d, "function");
             fn != nullptr && Member(*fn, "name") != nullptr) {
    mode = "ANY";
    only = StringOr(*fn, "name");
  }
  if (mode.empty()) {
    return status::Error(
               absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
               "Invalid value for 'tool_choice': expected none, auto, required or a function.")
        .Param("tool_choice");
  }
  WriteKey(w, "toolConfig");
  w.StartObject();
  WriteKey(w, "functionCallingConfig");
  w.StartObject();
  WriteKey(w, "mode");
  WriteStr(w, mode);
  if (!only.empty()) {
    WriteKey(w, "allowedFunctionNames");
    w.StartArray();
    WriteStr(w, only);
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return absl::OkStatus();
}

// --- Responses.

std::string FinishReason(absl::string_view reason, bool calls) {
  if (reason == "MAX_TOKENS") return "length";
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "LANGUAGE" ||
      absl::StartsWith(reason, "IMAGE_")) {
    return "content_filter";
  }
  return calls ? "tool_calls"
               : "stop";  // STOP, OTHER, FINISH_REASON_UNSPECIFIED, MALFORMED_FUNCTION_CALL, ...
}

void ReadUsage(const Value& u, common::v1::Usage& out) {
  const int64_t thoughts = IntOr(u, "thoughtsTokenCount");
  out.set_prompt_tokens(IntOr(u, "promptTokenCount") + IntOr(u, "toolUsePromptTokenCount"));
  out.set_completion_tokens(IntOr(u, "candidatesTokenCount") + thoughts);
  out.set_total_tokens(IntOr(u, "totalTokenCount", out.prompt_tokens() + out.completion_tokens()));
  out.set_reasoning_tokens(thoughts);
  out.set_cached_tokens(IntOr(u, "cachedContentTokenCount"));
}

// A google.rpc.Status error object as the call's status.
absl::Status RpcError(int http_status, const Value& e, absl::string_view retry_after_header) {
  int status = static_cast<int>(IntOr(e, "code", http_status));
  if (status == 0) status = http_status;
  std::optional<int> client;
  std::string retry_after(retry_after_header);
  if (const Value* details = Member(e, "details"); details != nullptr && details->IsArray()) {
    for (const Value& d : details->GetArray()) {
      if (StringOr(d, "reason") == "API_KEY_INVALID") client = 401;
      if (std::string delay = StringOr(d, "retryDelay"); !delay.empty() && retry_after.empty()) {
        absl::string_view v = delay;
        absl::ConsumeSuffix(&v, "s");
        double seconds = 0;
        if (absl::SimpleAtod(v, &seconds))
          retry_after = absl::StrCat(static_cast<int64_t>(seconds + 0.999));
      }
    }
  }
  return UpstreamFailure(kProvider, status, StringOr(e, "message"), retry_after, client);
}

class GeminiTranslator final : public Translator {
 public:
  explicit GeminiTranslator(std::string model)
      : out_(NewCompletionId(), std::move(model), absl::ToUnixSeconds(absl::Now())) {}

  absl::Status OnEvent(absl::string_view, absl::string_view data, EventSink& sink) override {
    json::StackDocument doc;
    Document& d = *doc;
    AIM_RETURN_IF_ERROR(ParseObject(kProvider, data, "a stream event", d));
    if (const Value* e = Member(d, "error")) return RpcError(500, *e, "");
    if (!started_) {
      started_ = true;
      if (std::string id = StringOr(d, "responseId"); !id.empty()) out_.set_id(std::move(id));
      if (std::string m = StringOr(d, "modelVersion"); !m.empty()) out_.set_model(std::move(m));
      sink.Emit(out_.Role());
    }
    if (const Value* u = Member(d, "usageMetadata"); u != nullptr && u->IsObject()) {
      ReadUsage(*u, usage_);
      has_usage_ = true;
    }
    const Value* candidates = Member(d, "candidates");
    if (candidates == nullptr || !candidates->IsArray() || candidates->Empty()) {
      if (const Value* fb = Member(d, "promptFeedback"); fb != nullptr) finish_ = "content_filter";
      return absl::OkStatus();
    }
    const Value& c = (*candidates)[0];
    if (const Value* content = Member(c, "content")) {
      if (const Value* parts = Member(*content, "parts"); parts != nullptr && parts->IsArray()) {
        for (const Value& p : parts->GetArray()) {
          if (const Value* b = Member(p, "thought"); b != nullptr && b->IsBool() && b->GetBool())
            continue;
          if (const Value* text = Member(p, "text"); text != nullptr && text->IsString()) {
            if (text->GetStringLength() > 0) sink.Emit(out_.Content(text->GetString()));
          } else if (const Value* call = Member(p, "functionCall")) {
            const Value* args = Member(*call, "args");
            sink.Emit(out_.ToolCallStart(
                calls_++, StringOr(*call, "id", NewToolCallId()), StringOr(*call, "name"),
                args != nullptr && args->IsObject() ? ToJson(*args) : "{}"));
          }
          // inlineData (generated images) and executable code have no place in a chat completion.
        }
      }
    }
    if (std::string reason = StringOr(c, "finishReason"); !reason.empty()) finish_reason_ = reason;
    return absl::OkStatus();
  }

  absl::Status OnEnd(absl::string_view unframed, EventSink& sink) override {
    // A failing stream ends with a bare JSON error object after its events.
    if (!absl::StripAsciiWhitespace(unframed).empty()) {
      Document d;
      if (!json::ParseBounded(d, unframed, /*validate_utf8=*/true) ||
          Member(d, "error") == nullptr) {
        return BadResponse(kProvider, "text outside the event stream");
      }
      return RpcError(500, *Member(d, "error"), "");
    }
    if (!started_) sink.Emit(out_.Role());
    if (finish_.empty() && finish_reason_.empty() && calls_ == 0) {
      return StreamCutShort(kProvider, "ended without a finish reason");
    }
    sink.Emit(out_.Finish(!finish_.empty() ? finish_ : FinishReason(finish_reason_, calls_ > 0)));
    if (has_usage_) sink.Emit(out_.UsageChunk(usage_));
    return absl::OkStatus();
  }

  absl::Status OnBody(std::string body, EventSink& sink) override {
    json::StackDocument doc;
    Document& d = *doc;
    AIM_RETURN_IF_ERROR(ParseObject(kProvider, body, "an answer", d));
    Completion c;
    c.id = StringOr(d, "responseId", out_.id());
    c.model = StringOr(d, "modelVersion", out_.model());
    c.created = absl::ToUnixSeconds(absl::Now());
    const Value* candidates = Member(d, "candidates");
    std::string reason;
    if (candidates != nullptr && candidates->IsArray() && !candidates->Empty()) {
      const Value& cand = (*candidates)[0];
      if (const Value* content = Member(cand, "content")) {
        if (const Value* parts = Member(*content, "parts"); parts != nullptr && parts->IsArray()) {
          for (const Value& p : parts->GetArray()) {
            if (const Value* b = Member(p, "thought"); b != nullptr && b->IsBool() && b->GetBool())
              continue;
            if (const Value* text = Member(p, "text"); text != nullptr && text->IsString()) {
              c.content += text->GetString();
            } else if (const Value* call = Member(p, "functionCall")) {
              const Value* args = Member(*call, "args");
              common::v1::ToolCall& t = c.tool_calls.emplace_back();
              t.set_index(static_cast<int>(c.tool_calls.size()) - 1);
              t.set_id(StringOr(*call, "id", NewToolCallId()));
              t.set_type("function");
              t.set_name(StringOr(*call, "name"));
              t.set_arguments(args != nullptr && args->IsObject() ? ToJson(*args) : "{}");
            }
          }
        }
      }
      c.finish_reason = FinishReason(StringOr(cand, "finishReason"), !c.tool_calls.empty());
    } else {
      c.finish_reason = "content_filter";  // The prompt was blocked (promptFeedback).
    }
    if (const Value* u = Member(d, "usageMetadata"); u != nullptr && u->IsObject()) {
      ReadUsage(*u, c.usage);
      c.has_usage = true;
    }
    sink.Emit(RenderCompletion(c));
    return absl::OkStatus();
  }

  absl::Status OnHttpError(int http_status, absl::string_view body,
                           absl::string_view retry_after) override {
    Document d;
    if (ParseErrorBody(body, d)) {
      // Usually {"error": {...}}; a stream answers with [{"error": {...}}].
      const Value* e = Member(d, "error");
      if (e == nullptr && d.IsArray() && !d.Empty()) e = Member(d[0], "error");
      if (e != nullptr) return RpcError(http_status, *e, retry_after);
    }
    return UpstreamFailure(kProvider, http_status, "", retry_after);
  }

 private:
  ChunkWriter out_;
  common::v1::Usage usage_;
  bool has_usage_ = false;
  bool started_ = false;
  int calls_ = 0;
  std::string finish_reason_;  // Gemini's, from the last event that had one.
  std::string finish_;         // Ours, when decided by something else (a blocked prompt).
};

}  // namespace

absl::StatusOr<std::string> ReduceSchemaForGemini(const std::string& schema_json,
                                                  absl::string_view param) {
  Document d;
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

absl::StatusOr<std::string> BuildGeminiBody(const common::v1::ChatRequest& req) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n",
                       "aimarket asks it for one candidate; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "its log probabilities are not translated");
  if (req.stop_size() > 5)
    return Unsupported(kProvider, "stop", "it takes at most 5 stop sequences");

  const std::map<std::string, std::string> names = ToolNamesById(req);
  std::vector<std::string> system;
  std::vector<Turn> turns;
  int i = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    const std::string param = absl::StrCat("messages[", i++, "]");
    if (m.role() == "system" || m.role() == "developer") {
      system.push_back(MessageText(m, "\n"));
      continue;
    }
    Turn t;
    if (m.role() == "tool" || m.role() == "function") {
      t.role = "user";
      auto name = names.find(m.tool_call_id());
      if (name == names.end()) {
        return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                             absl::StrCat("Invalid value for '", param,
                                          ".tool_call_id': no earlier assistant message "
                                          "has a tool call with the id '",
                                          m.tool_call_id(),
                                          "' (Gemini names a tool result by its function)."))
            .Param(param + ".tool_call_id");
      }
      const std::string text = MessageText(m, "\n");
      Document result;
      const bool parsed = json::ParseBounded(result, text);
      const bool object = parsed && result.IsObject();
      rapidjson::StringBuffer buf;
      JsonWriter w(buf);
      w.StartObject();
      WriteKey(w, "functionResponse");
      w.StartObject();
      WriteKey(w, "name");
      WriteStr(w, name->second);
      WriteKey(w, "response");
      if (object) {
        result.Accept(w);
      } else {
        w.StartObject();
        WriteKey(w, "result");
        if (parsed) {
          result.Accept(w);
        } else {
          WriteStr(w, text);
        }
        w.EndObject();
      }
      w.EndObject();
      w.EndObject();
      t.parts.emplace_back(buf.GetString(), buf.GetSize());
    } else {
      t.role = m.role() == "assistant" ? "model" : "user";
      if (m.parts().empty()) {
        if (!m.content().empty()) t.parts.push_back(TextPart(m.content()));
      } else {
        int j = 0;
        for (const common::v1::ContentPart& p : m.parts()) {
          const std::string pp = absl::StrCat(param, ".content[", j++, "]");
          if (p.has_text()) {
            t.parts.push_back(TextPart(p.text()));
          } else if (p.has_image_url()) {
            AIM_ASSIGN_OR_RETURN(std::string part, ImagePart(p.image_url(), pp + ".image_url.url"));
            t.parts.push_back(std::move(part));
          }
        }
      }
      int j = 0;
      for (const common::v1::ToolCall& c : m.tool_calls()) {
        const std::string tp = absl::StrCat(param, ".tool_calls[", j++, "]");
        AIM_ASSIGN_OR_RETURN(std::string args,
                             ArgumentsObject(c.arguments(), tp + ".function.arguments"));
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        w.StartObject();
        WriteKey(w, "functionCall");
        w.StartObject();
        WriteKey(w, "name");
        WriteStr(w, c.name());
        WriteKey(w, "args");
        WriteRawJson(w, args);
        w.EndObject();
        w.EndObject();
        t.parts.emplace_back(buf.GetString(), buf.GetSize());
      }
      if (t.parts.empty()) continue;
    }
    Push(turns, std::move(t));
  }

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  if (!system.empty()) {
    WriteKey(w, "systemInstruction");
    w.StartObject();
    WriteKey(w, "parts");
    w.StartArray();
    w.StartObject();
    WriteKey(w, "text");
    WriteStr(w, absl::StrJoin(system, "\n\n"));
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }
  WriteKey(w, "contents");
  w.StartArray();
  for (const Turn& t : turns) {
    w.StartObject();
    WriteKey(w, "role");
    WriteStr(w, t.role);
    WriteKey(w, "parts");
    w.StartArray();
    for (const std::string& p : t.parts) w.RawValue(p.data(), p.size(), rapidjson::kObjectType);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  if (!req.tools().empty()) {
    WriteKey(w, "tools");
    w.StartArray();
    w.StartObject();
    WriteKey(w, "functionDeclarations");
    w.StartArray();
    for (int i = 0; i < req.tools_size(); ++i) {
      const common::v1::Tool& t = req.tools(i);
      w.StartObject();
      WriteKey(w, "name");
      WriteStr(w, t.name());
      if (!t.description().empty()) {
        WriteKey(w, "description");
        WriteStr(w, t.description());
      }
      if (!t.parameters_json().empty()) {
        WriteKey(w, "parameters");
        AIM_ASSIGN_OR_RETURN(
            const std::string reduced,
            ReduceSchemaForGemini(t.parameters_json(),
                                  absl::StrCat("tools[", i, "].function.parameters")));
        WriteRawJson(w, reduced);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.EndArray();
  }
  AIM_RETURN_IF_ERROR(WriteToolConfig(w, req));
  const common::v1::ResponseFormat& rf = req.response_format();
  const bool json = rf.type() == "json_object" || rf.type() == "json_schema";
  const bool config = req.has_temperature() || req.has_top_p() || req.has_max_tokens() ||
                      !req.stop().empty() || req.n() > 0 || req.has_seed() ||
                      req.has_presence_penalty() || req.has_frequency_penalty() || json;
  if (config) {
    WriteKey(w, "generationConfig");
    w.StartObject();
    if (req.has_temperature()) {
      WriteKey(w, "temperature");
      w.Double(req.temperature());
    }
    if (req.has_top_p()) {
      WriteKey(w, "topP");
      w.Double(req.top_p());
    }
    if (req.has_max_tokens()) {
      WriteKey(w, "maxOutputTokens");
      w.Int64(req.max_tokens());
    }
    if (!req.stop().empty()) {
      WriteStringArray(w, "stopSequences", req.stop());
    }
    if (req.n() > 0) {
      WriteKey(w, "candidateCount");
      w.Int(req.n());
    }
    if (req.has_seed()) {
      WriteKey(w, "seed");
      w.Int64(req.seed());
    }
    if (req.has_presence_penalty()) {
      WriteKey(w, "presencePenalty");
      w.Double(req.presence_penalty());
    }
    if (req.has_frequency_penalty()) {
      WriteKey(w, "frequencyPenalty");
      w.Double(req.frequency_penalty());
    }
    if (json) {
      WriteKey(w, "responseMimeType");
      WriteStr(w, "application/json");
      if (rf.type() == "json_schema" && !rf.schema_json().empty()) {
        WriteKey(w, "responseSchema");
        AIM_ASSIGN_OR_RETURN(
            const std::string reduced,
            ReduceSchemaForGemini(rf.schema_json(), "response_format.json_schema.schema"));
        WriteRawJson(w, reduced);
      }
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

GeminiProvider::GeminiProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                               absl::string_view api_key)
    : config_(config), http_(http), endpoint_(config_, {KeyHeader("x-goog-api-key", api_key)}) {}

void GeminiProvider::Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                              const common::v1::ChatRequest& req,
                              rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  absl::StatusOr<std::string> body = BuildGeminiBody(req);
  if (!body.ok()) {
    observer.OnComplete(body.status());
    return;
  }
  // The model is one path segment, escaped: "a/../b" or "a:x?y" stay inside it.
  HttpCallRequest http = endpoint_.Post(
      req,
      absl::StrCat("/v1beta/models/", EscapePathSegment(upstream_model),
                   req.stream() ? ":streamGenerateContent?alt=sse" : ":generateContent"),
      *std::move(body));
  StartUpstreamCall(http_, std::move(http), ctx, std::make_unique<GeminiTranslator>(upstream_model),
                    Framing::kSse, req.stream(), observer);
}

// POST /v1beta/models/{model}:batchEmbedContents: one request per input, in order. Gemini reports
// no token counts for embeddings, so usage is 0.
absl::StatusOr<common::v1::EmbedResponse> GeminiProvider::Embed(
    const rpc::CallContext& ctx, const std::string& upstream_model,
    const common::v1::EmbedRequest& req) {
  AIM_RETURN_IF_ERROR(RequireTextInput(kProvider, req));
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "requests");
  w.StartArray();
  for (const std::string& text : req.input()) {
    w.StartObject();
    WriteKey(w, "model");
    WriteStr(w, absl::StrCat("models/", upstream_model));
    WriteKey(w, "content");
    w.StartObject();
    WriteKey(w, "parts");
    w.StartArray();
    w.StartObject();
    WriteKey(w, "text");
    WriteStr(w, text);
    w.EndObject();
    w.EndArray();
    w.EndObject();
    if (req.dimensions() > 0) {
      WriteKey(w, "outputDimensionality");
      w.Int(req.dimensions());
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  HttpCallRequest http = endpoint_.Post(
      req.request_id(),
      absl::StrCat("/v1beta/models/", EscapePathSegment(upstream_model), ":batchEmbedContents"),
      std::string(buf.GetString(), buf.GetSize()));
  AIM_ASSIGN_OR_RETURN(UpstreamAnswer answer, CallUpstream(http_, std::move(http), ctx));
  if (answer.status < 200 || answer.status >= 300) {
    return GeminiTranslator(upstream_model)
        .OnHttpError(answer.status, answer.body, answer.retry_after);
  }
  Document d;
  const Value* list = nullptr;
  if (json::ParseBounded(d, answer.body)) list = Member(d, "embeddings");
  if (list == nullptr || !list->IsArray())
    return BadResponse(kProvider, "an embeddings answer without embeddings");
  common::v1::EmbedResponse resp;
  resp.set_model(upstream_model);
  for (const Value& e : list->GetArray()) {
    common::v1::Embedding& out = *resp.add_data();
    out.set_index(resp.data_size() - 1);
    const Value* values = Member(e, "values");
    if (values == nullptr || !ReadVector(*values, out))
      return BadResponse(kProvider, "an embedding without values");
  }
  resp.mutable_usage();
  return resp;
}

HttpCallRequest GeminiProvider::HealthRequest() const { return endpoint_.Get("/v1beta/models"); }

}  // namespace aimarket::provider
