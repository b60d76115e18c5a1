#include "services/provider_adapter/providers/huggingface_provider.h"

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/json_translator.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/openai_provider.h"
#include "services/provider_adapter/providers/translate_util.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "huggingface";

using rapidjson::Document;
using rapidjson::Value;

void SetMember(Document& d, const char* key, Value v) {
  auto& alloc = d.GetAllocator();
  if (auto it = d.FindMember(key); it != d.MemberEnd()) {
    it->value = std::move(v);
  } else {
    d.AddMember(Value(key, alloc), std::move(v), alloc);
  }
}

// Arguments as the JSON string OpenAI uses (TGI before 3.1 sent an object).
std::string ArgumentsText(const Value& fn) {
  const Value* a = Member(fn, "arguments");
  if (a == nullptr || a->IsNull()) return "";
  if (a->IsString()) return std::string(a->GetString(), a->GetStringLength());
  return ToJson(*a);
}

void ReadUsage(const Value& u, common::v1::Usage& out) {
  out.set_prompt_tokens(IntOr(u, "prompt_tokens"));
  out.set_completion_tokens(IntOr(u, "completion_tokens"));
  out.set_total_tokens(IntOr(u, "total_tokens", out.prompt_tokens() + out.completion_tokens()));
  if (const Value* d = Member(u, "prompt_tokens_details"))
    out.set_cached_tokens(IntOr(*d, "cached_tokens"));
  if (const Value* d = Member(u, "completion_tokens_details"))
    out.set_reasoning_tokens(IntOr(*d, "reasoning_tokens"));
}

// TGI's and the router's error bodies: {"error": "text", "error_type"}, or OpenAI's object.
absl::Status HfError(int http_status, const Value* e, absl::string_view retry_after) {
  std::string message;
  if (e != nullptr && e->IsString()) {
    message.assign(e->GetString(), e->GetStringLength());
  } else if (e != nullptr && e->IsObject()) {
    message = StringOr(*e, "message");
    http_status = static_cast<int>(IntOr(*e, "http_status_code", http_status));
  }
  return UpstreamFailure(kProvider, http_status, std::move(message), retry_after);
}

std::string Finish(absl::string_view reason, bool calls) {
  if (reason == "length") return "length";
  if (reason == "content_filter") return "content_filter";
  if (calls) return "tool_calls";  // TGI says "stop" after a tool call.
  return "stop";                   // stop, eos_token, stop_sequence, tool_calls without calls
}

// An OpenAI-shaped answer (TGI's chat route, the router) rebuilt with TGI's quirks fixed.
// The reasoning of a message or delta from the router's providers: `reasoning_content`
// (DeepSeek, vLLM) or `reasoning` (some others).
std::string Reasoning(const Value& message) {
  std::string text = StringOr(message, "reasoning_content");
  return text.empty() ? StringOr(message, "reasoning") : text;
}

class ChatTranslator final : public JsonTranslator {
 public:
  explicit ChatTranslator(std::string model)
      : JsonTranslator(kProvider, NewCompletionId(), std::move(model), {}) {}

  absl::Status OnEvent(absl::string_view name, absl::string_view data, EventSink& sink) override {
    if (data == "[DONE]") {
      done_ = true;
      return absl::OkStatus();
    }
    return JsonTranslator::OnEvent(name, data, sink);
  }

  absl::Status OnJson(absl::string_view, const Value& d, EventSink& sink) override {
    if (const Value* e = Member(d, "error")) return HfError(500, e, "");
    if (!started_) {
      started_ = true;
      if (std::string id = StringOr(d, "id"); !id.empty()) out().set_id(std::move(id));
      if (std::string m = StringOr(d, "model"); !m.empty()) out().set_model(std::move(m));
      sink.Emit(out().Role());
    }
    if (const Value* u = Member(d, "usage"); u != nullptr && u->IsObject()) {
      ReadUsage(*u, usage_);
      has_usage_ = true;
    }
    const Value* choices = Member(d, "choices");
    if (choices == nullptr || !choices->IsArray() || choices->Empty()) return absl::OkStatus();
    const Value& c = (*choices)[0];
    if (const Value* delta = Member(c, "delta")) {
      if (std::string text = Reasoning(*delta); !text.empty()) sink.Emit(out().Reasoning(text));
      if (std::string text = StringOr(*delta, "content"); !text.empty())
        sink.Emit(out().Content(text));
      if (const Value* calls = Member(*delta, "tool_calls"); calls != nullptr && calls->IsArray()) {
        for (const Value& call : calls->GetArray()) {
          const int index = static_cast<int>(IntOr(call, "index", 0));
          const Value* fn = Member(call, "function");
          const std::string args = fn != nullptr ? ArgumentsText(*fn) : "";
          if (!ids_.contains(index)) {
            ids_[index] = UniqueId(StringOr(call, "id"));
            sink.Emit(out().ToolCallStart(index, ids_[index],
                                          fn != nullptr ? StringOr(*fn, "name") : "", args));
          } else if (!args.empty()) {
            sink.Emit(out().ToolCallArguments(index, args));
          }
        }
      }
    }
    if (std::string reason = StringOr(c, "finish_reason"); !reason.empty() && !finished_) {
      finished_ = true;
      sink.Emit(out().Finish(Finish(reason, !ids_.empty())));
    }
    return absl::OkStatus();
  }

  absl::Status OnEnd(absl::string_view, EventSink& sink) override {
    if (!started_) {
      return StreamCutShort(kProvider, "was empty");
    }
    if (!finished_) {
      // TGI's tool streams may end without a finish chunk; a text stream without one was cut off.
      if (ids_.empty() && !done_) {
        return StreamCutShort(kProvider, "ended without a finish reason");
      }
      sink.Emit(out().Finish(ids_.empty() ? "stop" : "tool_calls"));
    }
    if (has_usage_) sink.Emit(out().UsageChunk(usage_));
    return absl::OkStatus();
  }

  absl::Status ReadAnswer(const Value& d, Completion& c) override {
    if (const Value* e = Member(d, "error")) return HfError(500, e, "");
    if (std::string id = StringOr(d, "id"); !id.empty()) c.id = std::move(id);
    c.model = StringOr(d, "model", c.model);
    c.created = IntOr(d, "created", c.created);
    std::string reason;
    if (const Value* choices = Member(d, "choices");
        choices != nullptr && choices->IsArray() && !choices->Empty()) {
      const Value& choice = (*choices)[0];
      reason = StringOr(choice, "finish_reason");
      if (const Value* m = Member(choice, "message")) {
        c.content = StringOr(*m, "content");
        c.refusal = StringOr(*m, "refusal");
        c.reasoning = Reasoning(*m);
        if (const Value* calls = Member(*m, "tool_calls"); calls != nullptr && calls->IsArray()) {
          for (const Value& call : calls->GetArray()) {
            const Value* fn = Member(call, "function");
            std::string args = fn != nullptr ? ArgumentsText(*fn) : "";
            c.AddToolCall(UniqueId(StringOr(call, "id")),
                          fn != nullptr ? StringOr(*fn, "name") : "",
                          args.empty() ? "{}" : std::move(args));
          }
        }
      }
    }
    c.finish_reason = Finish(reason, !c.tool_calls.empty());
    if (const Value* u = Member(d, "usage"); u != nullptr && u->IsObject()) {
      ReadUsage(*u, c.usage);
      c.has_usage = true;
    }
    return absl::OkStatus();
  }

  absl::Status OnHttpError(int http_status, absl::string_view body,
                           absl::string_view retry_after) override {
    Document d;
    if (ParseErrorBody(body, d)) {
      if (const Value* e = Member(d, "error")) {
        if (e->IsObject() && Member(*e, "type") != nullptr) {
          return UpstreamHttpError(kProvider, http_status, body,
                                   retry_after);  // OpenAI's own shape.
        }
        return HfError(http_status, e, retry_after);
      }
    }
    return UpstreamFailure(kProvider, http_status, "", retry_after);
  }

 private:
  // The upstream's id unless it is missing or one already used (TGI numbers every call "0").
  std::string UniqueId(const std::string& id) {
    if (id.empty() || id.size() < 4 || !used_.insert(id).second) return NewToolCallId();
    return id;
  }

  std::map<int, std::string> ids_;  // Tool-call index → the id the client sees.
  std::set<std::string> used_;
  common::v1::Usage usage_;
  bool has_usage_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
};

// TGI's native /generate and /generate_stream.
class GenerateTranslator final : public JsonTranslator {
 public:
  explicit GenerateTranslator(std::string model)
      : JsonTranslator(kProvider, NewCompletionId(), std::move(model),
                       {.cut_short = "(generate_stream) ended before its details"}) {}

  absl::Status OnJson(absl::string_view, const Value& d, EventSink& sink) override {
    if (const Value* e = Member(d, "error")) return HfError(500, e, "");
    if (!started_) {
      started_ = true;
      sink.Emit(out().Role());
    }
    if (const Value* token = Member(d, "token")) {
      const Value* special = Member(*token, "special");
      const bool skip = special != nullptr && special->IsBool() && special->GetBool();
      if (std::string text = StringOr(*token, "text"); !skip && !text.empty())
        sink.Emit(out().Content(text));
    }
    if (const Value* details = Member(d, "details"); details != nullptr && details->IsObject()) {
      End();
      sink.Emit(out().Finish(Finish(StringOr(*details, "finish_reason"), false)));
      common::v1::Usage usage;
      usage.set_prompt_tokens(IntOr(*details, "input_length"));
      usage.set_completion_tokens(IntOr(*details, "generated_tokens"));
      usage.set_total_tokens(usage.prompt_tokens() + usage.completion_tokens());
      sink.Emit(out().UsageChunk(usage));
    }
    return absl::OkStatus();
  }

  absl::Status ReadAnswer(const Value& d, Completion& c) override {
    c.content = StringOr(d, "generated_text");
    c.finish_reason = "stop";
    if (const Value* details = Member(d, "details"); details != nullptr && details->IsObject()) {
      c.finish_reason = Finish(StringOr(*details, "finish_reason"), false);
      const Value* prefill = Member(*details, "prefill");
      c.usage.set_prompt_tokens(
          IntOr(*details, "input_length",
                prefill != nullptr && prefill->IsArray() ? prefill->Size() : 0));
      c.usage.set_completion_tokens(IntOr(*details, "generated_tokens"));
      c.usage.set_total_tokens(c.usage.prompt_tokens() + c.usage.completion_tokens());
      c.has_usage = true;
    }
    return absl::OkStatus();
  }

  absl::Status OnHttpError(int http_status, absl::string_view body,
                           absl::string_view retry_after) override {
    Document d;
    if (ParseErrorBody(body, d)) return HfError(http_status, Member(d, "error"), retry_after);
    return UpstreamFailure(kProvider, http_status, "", retry_after);
  }

 private:
  bool started_ = false;
};

}  // namespace

absl::StatusOr<std::string> BuildHfChatBody(const common::v1::ChatRequest& req,
                                            const std::string& upstream_model, bool tgi) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n", "it returns one choice; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "its log probabilities are not translated");
  const std::string openai = BuildOpenAiBody(req, upstream_model);
  Document d;
  (void)json::ParseBounded(d, openai);
  auto& alloc = d.GetAllocator();
  if (auto it = d.FindMember("max_completion_tokens"); it != d.MemberEnd()) {
    Value v(it->value, alloc);
    d.RemoveMember("max_completion_tokens");
    if (!d.HasMember("max_tokens")) d.AddMember("max_tokens", v, alloc);
  }
  if (tgi) {
    const common::v1::ResponseFormat& rf = req.response_format();
    if (rf.type() == "json_object" || rf.type() == "json_schema") {
      Document schema;
      const std::string text = rf.type() == "json_schema" && !rf.schema_json().empty()
                                   ? rf.schema_json()
                                   : R"({"type":"object"})";
      (void)json::ParseBounded(schema, text);
      Value grammar(rapidjson::kObjectType);
      grammar.AddMember("type", "json", alloc);
      grammar.AddMember("value", Value(schema, alloc), alloc);
      SetMember(d, "response_format", std::move(grammar));
    } else if (rf.type() == "text") {
      d.RemoveMember("response_format");
    }
  }
  return ToJson(d);
}

absl::StatusOr<std::string> BuildTgiGenerateBody(const common::v1::ChatRequest& req) {
  if (!req.tools().empty())
    return Unsupported(kProvider, "tools", "TGI's generate API has no tools; use api: tgi");
  if (!req.response_format().type().empty() && req.response_format().type() != "text") {
    return Unsupported(kProvider, "response_format",
                       "TGI's generate API is used without a grammar; use api: tgi");
  }
  if (req.n() > 1) return Unsupported(kProvider, "n", "it returns one generation");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "its log probabilities are not translated");
  if (!req.tool_choice_json().empty())
    return Unsupported(kProvider, "tool_choice", "TGI's generate API has no tools");
  std::vector<std::string> texts;
  int i = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    for (const common::v1::ContentPart& p : m.parts()) {
      if (p.has_image_url()) {
        return Unsupported(kProvider, absl::StrCat("messages[", i, "].content"),
                           "TGI's generate API takes text only");
      }
    }
    ++i;
    if (std::string t = MessageText(m, "\n"); !t.empty()) texts.push_back(std::move(t));
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "inputs");
  WriteStr(w, absl::StrJoin(texts, "\n\n"));
  WriteKey(w, "parameters");
  w.StartObject();
  if (!req.stream()) {
    // Without them /generate reports neither the finish reason nor the token counts (a stream's
    // last event always carries its details).
    WriteKey(w, "details");
    w.Bool(true);
    WriteKey(w, "decoder_input_details");
    w.Bool(true);
  }
  if (req.has_max_tokens()) {
    WriteKey(w, "max_new_tokens");
    w.Int64(req.max_tokens());
  }
  if (req.has_temperature() &&
      req.temperature() > 0) {  // TGI rejects 0; 0 means greedy, its default.
    WriteKey(w, "temperature");
    w.Double(req.temperature());
  }
  if (req.has_top_p() && req.top_p() > 0 && req.top_p() < 1) {
    WriteKey(w, "top_p");
    w.Double(req.top_p());
  }
  if (!req.stop().empty()) {
    WriteStringArray(w, "stop", req.stop());
  }
  if (req.has_seed()) {
    WriteKey(w, "seed");
    w.Int64(req.seed());
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

namespace {

absl::StatusOr<HttpCallRequest> HfChat(const HttpProvider& p, const std::string& upstream_model,
                                       const common::v1::ChatRequest& req, bool tgi) {
  AIM_ASSIGN_OR_RETURN(std::string body, BuildHfChatBody(req, upstream_model, tgi));
  return p.endpoint().Post(req, "/v1/chat/completions", std::move(body));
}

absl::StatusOr<HttpCallRequest> RouterChat(const HttpProvider& p, const std::string& upstream_model,
                                           const common::v1::ChatRequest& req) {
  return HfChat(p, upstream_model, req, /*tgi=*/false);
}

absl::StatusOr<HttpCallRequest> TgiChat(const HttpProvider& p, const std::string& upstream_model,
                                        const common::v1::ChatRequest& req) {
  return HfChat(p, upstream_model, req, /*tgi=*/true);
}

absl::StatusOr<HttpCallRequest> GenerateChat(const HttpProvider& p, const std::string&,
                                             const common::v1::ChatRequest& req) {
  AIM_ASSIGN_OR_RETURN(std::string body, BuildTgiGenerateBody(req));
  return p.endpoint().Post(req, req.stream() ? "/generate_stream" : "/generate", std::move(body));
}

std::unique_ptr<Translator> NewChatTranslator(const HttpProvider&,
                                              const std::string& upstream_model) {
  return std::make_unique<ChatTranslator>(upstream_model);
}

std::unique_ptr<Translator> NewGenerateTranslator(const HttpProvider&,
                                                  const std::string& upstream_model) {
  return std::make_unique<GenerateTranslator>(upstream_model);
}

// The router's embeddings: the hf-inference feature-extraction pipeline ({"inputs": [...]} → one
// vector per input, no token counts).
absl::StatusOr<HttpCallRequest> RouterEmbed(const HttpProvider& p,
                                            const std::string& upstream_model,
                                            const common::v1::EmbedRequest& req) {
  AIM_RETURN_IF_ERROR(RequireTextInput(kProvider, req));
  if (req.dimensions() > 0) {
    return Unsupported(kProvider, "dimensions",
                       "the feature-extraction pipeline returns the model's own size");
  }
  // Hugging Face model ids are "org/name": path segments, each escaped.
  AIM_ASSIGN_OR_RETURN(const std::string model, EscapePath(upstream_model, "model"));
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteStringArray(w, "inputs", req.input());
  w.EndObject();
  return p.endpoint().Post(
      req.request_id(),
      absl::StrCat("/hf-inference/models/", model, "/pipeline/feature-extraction"),
      std::string(buf.GetString(), buf.GetSize()));
}

absl::StatusOr<common::v1::EmbedResponse> ReadRouterEmbeddings(const HttpProvider&,
                                                               const std::string& upstream_model,
                                                               absl::string_view body) {
  Document d;
  const bool parsed = json::ParseBounded(d, body);
  common::v1::EmbedResponse resp;
  resp.set_model(upstream_model);
  AIM_RETURN_IF_ERROR(ReadVectors(kProvider, parsed ? &d : nullptr, resp));
  resp.mutable_usage();  // The pipeline reports no token counts.
  return resp;
}

// TGI's (and text-embeddings-inference's) OpenAI-compatible /v1/embeddings.
absl::StatusOr<HttpCallRequest> TgiEmbed(const HttpProvider& p, const std::string& upstream_model,
                                         const common::v1::EmbedRequest& req) {
  AIM_RETURN_IF_ERROR(RequireTextInput(kProvider, req));
  return p.endpoint().Post(
      req.request_id(), "/v1/embeddings",
      TextEmbedBody(upstream_model, "input", req, "dimensions", [](JsonWriter& w) {
        WriteKey(w, "encoding_format");
        WriteStr(w, "float");
      }));
}

absl::StatusOr<common::v1::EmbedResponse> ReadTgiEmbeddings(const HttpProvider&,
                                                            const std::string& upstream_model,
                                                            absl::string_view body) {
  return ParseOpenAiEmbeddings(kProvider, body, upstream_model);
}

constexpr WireFormat kRouter = {.chat = &RouterChat,
                                .translator = &NewChatTranslator,
                                .health_path = "/v1/models",
                                .embed = &RouterEmbed,
                                .read_embeddings = &ReadRouterEmbeddings};
constexpr WireFormat kTgi = {.chat = &TgiChat,
                             .translator = &NewChatTranslator,
                             .health_path = "/health",
                             .embed = &TgiEmbed,
                             .read_embeddings = &ReadTgiEmbeddings};
// TGI's native API: no embeddings.
constexpr WireFormat kGenerate = {
    .chat = &GenerateChat, .translator = &NewGenerateTranslator, .health_path = "/health"};

// ProviderConfig.api, else the router when the base URL is Hugging Face's router, else TGI.
const WireFormat& HfFormat(const config::v1::ProviderConfig& config) {
  if (config.api() == "generate") return kGenerate;
  if (config.api() == "tgi") return kTgi;
  if (config.api() == "router" ||
      absl::StrContains(UpstreamEndpoint(config, {}).base_url(), "router.huggingface.co")) {
    return kRouter;
  }
  return kTgi;
}

}  // namespace

HuggingFaceProvider::HuggingFaceProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                                         absl::string_view api_key)
    : HttpProvider(config, http, HfFormat(config), {BearerAuth(api_key)}) {}

}  // namespace aimarket::provider
