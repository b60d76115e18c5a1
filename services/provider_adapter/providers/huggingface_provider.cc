#include "services/provider_adapter/providers/huggingface_provider.h"

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/json/stack_document.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
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

class ChatTranslator final : public Translator {
 public:
  explicit ChatTranslator(std::string model)
      : Translator(std::string(kProvider)),
        out_(NewCompletionId(), std::move(model), absl::ToUnixSeconds(absl::Now())) {}

  absl::Status OnEvent(absl::string_view, absl::string_view data, EventSink& sink) override {
    if (data == "[DONE]") {
      done_ = true;
      return absl::OkStatus();
    }
    json::StackDocument doc;
    Document& d = *doc;
    AIM_RETURN_IF_ERROR(ParseObject(kProvider, data, "a stream event", d));
    if (const Value* e = Member(d, "error")) return HfError(500, e, "");
    if (!started_) {
      started_ = true;
      if (std::string id = StringOr(d, "id"); !id.empty()) out_.set_id(std::move(id));
      if (std::string m = StringOr(d, "model"); !m.empty()) out_.set_model(std::move(m));
      sink.Emit(out_.Role());
    }
    if (const Value* u = Member(d, "usage"); u != nullptr && u->IsObject()) {
      ReadUsage(*u, usage_);
      has_usage_ = true;
    }
    const Value* choices = Member(d, "choices");
    if (choices == nullptr || !choices->IsArray() || choices->Empty()) return absl::OkStatus();
    const Value& c = (*choices)[0];
    if (const Value* delta = Member(c, "delta")) {
      if (std::string text = Reasoning(*delta); !text.empty()) sink.Emit(out_.Reasoning(text));
      if (std::string text = StringOr(*delta, "content"); !text.empty())
        sink.Emit(out_.Content(text));
      if (const Value* calls = Member(*delta, "tool_calls"); calls != nullptr && calls->IsArray()) {
        for (const Value& call : calls->GetArray()) {
          const int index = static_cast<int>(IntOr(call, "index", 0));
          const Value* fn = Member(call, "function");
          const std::string args = fn != nullptr ? ArgumentsText(*fn) : "";
          if (!ids_.contains(index)) {
            ids_[index] = UniqueId(StringOr(call, "id"));
            sink.Emit(out_.ToolCallStart(index, ids_[index],
                                         fn != nullptr ? StringOr(*fn, "name") : "", args));
          } else if (!args.empty()) {
            sink.Emit(out_.ToolCallArguments(index, args));
          }
        }
      }
    }
    if (std::string reason = StringOr(c, "finish_reason"); !reason.empty() && !finished_) {
      finished_ = true;
      sink.Emit(out_.Finish(Finish(reason, !ids_.empty())));
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
      sink.Emit(out_.Finish(ids_.empty() ? "stop" : "tool_calls"));
    }
    if (has_usage_) sink.Emit(out_.UsageChunk(usage_));
    return absl::OkStatus();
  }

  absl::Status OnBody(std::string body, EventSink& sink) override {
    json::StackDocument doc;
    Document& d = *doc;
    AIM_RETURN_IF_ERROR(ParseObject(kProvider, body, "an answer", d));
    if (const Value* e = Member(d, "error")) return HfError(500, e, "");
    Completion c;
    c.id = StringOr(d, "id");
    if (c.id.empty()) c.id = out_.id();
    c.model = StringOr(d, "model", out_.model());
    c.created = IntOr(d, "created", absl::ToUnixSeconds(absl::Now()));
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
    sink.Emit(RenderCompletion(c));
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

  ChunkWriter out_;
  std::map<int, std::string> ids_;  // Tool-call index → the id the client sees.
  std::set<std::string> used_;
  common::v1::Usage usage_;
  bool has_usage_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
};

// TGI's native /generate and /generate_stream.
class GenerateTranslator final : public Translator {
 public:
  explicit GenerateTranslator(std::string model)
      : Translator(std::string(kProvider)),
        out_(NewCompletionId(), std::move(model), absl::ToUnixSeconds(absl::Now())) {}

  absl::Status OnEvent(absl::string_view, absl::string_view data, EventSink& sink) override {
    json::StackDocument doc;
    Document& d = *doc;
    AIM_RETURN_IF_ERROR(ParseObject(kProvider, data, "a stream event", d));
    if (const Value* e = Member(d, "error")) return HfError(500, e, "");
    if (!started_) {
      started_ = true;
      sink.Emit(out_.Role());
    }
    if (const Value* token = Member(d, "token")) {
      const Value* special = Member(*token, "special");
      const bool skip = special != nullptr && special->IsBool() && special->GetBool();
      if (std::string text = StringOr(*token, "text"); !skip && !text.empty())
        sink.Emit(out_.Content(text));
    }
    if (const Value* details = Member(d, "details"); details != nullptr && details->IsObject()) {
      finished_ = true;
      sink.Emit(out_.Finish(Finish(StringOr(*details, "finish_reason"), false)));
      common::v1::Usage usage;
      usage.set_prompt_tokens(IntOr(*details, "input_length"));
      usage.set_completion_tokens(IntOr(*details, "generated_tokens"));
      usage.set_total_tokens(usage.prompt_tokens() + usage.completion_tokens());
      sink.Emit(out_.UsageChunk(usage));
    }
    return absl::OkStatus();
  }

  absl::Status OnEnd(absl::string_view, EventSink&) override {
    if (finished_) return absl::OkStatus();
    return StreamCutShort(kProvider, "(generate_stream) ended before its details");
  }

  absl::Status OnBody(std::string body, EventSink& sink) override {
    json::StackDocument doc;
    Document& d = *doc;
    AIM_RETURN_IF_ERROR(ParseObject(kProvider, body, "an answer", d));
    Completion c;
    c.id = out_.id();
    c.model = out_.model();
    c.created = absl::ToUnixSeconds(absl::Now());
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
    sink.Emit(RenderCompletion(c));
    return absl::OkStatus();
  }

  absl::Status OnHttpError(int http_status, absl::string_view body,
                           absl::string_view retry_after) override {
    Document d;
    if (ParseErrorBody(body, d)) return HfError(http_status, Member(d, "error"), retry_after);
    return UpstreamFailure(kProvider, http_status, "", retry_after);
  }

 private:
  ChunkWriter out_;
  bool started_ = false;
  bool finished_ = false;
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

HuggingFaceProvider::HuggingFaceProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                                         absl::string_view api_key)
    : config_(config), http_(http), endpoint_(config_, {BearerAuth(api_key)}) {
  if (config.api() == "generate") {
    api_ = Api::kGenerate;
  } else if (config.api() == "tgi") {
    api_ = Api::kTgi;
  } else if (config.api() == "router" ||
             absl::StrContains(endpoint_.base_url(), "router.huggingface.co")) {
    api_ = Api::kRouter;
  } else {
    api_ = Api::kTgi;
  }
}

void HuggingFaceProvider::Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                                   const common::v1::ChatRequest& req,
                                   rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  const bool generate = api_ == Api::kGenerate;
  absl::StatusOr<std::string> body = generate
                                         ? BuildTgiGenerateBody(req)
                                         : BuildHfChatBody(req, upstream_model, api_ == Api::kTgi);
  if (!body.ok()) {
    observer.OnComplete(body.status());
    return;
  }
  const std::string path =
      generate ? (req.stream() ? "/generate_stream" : "/generate") : "/v1/chat/completions";
  HttpCallRequest http = endpoint_.Post(req, path, *std::move(body));
  std::unique_ptr<Translator> translator;
  if (generate) {
    translator = std::make_unique<GenerateTranslator>(upstream_model);
  } else {
    translator = std::make_unique<ChatTranslator>(upstream_model);
  }
  StartUpstreamCall(http_, std::move(http), ctx, std::move(translator), Framing::kSse, req.stream(),
                    observer);
}

// router: the hf-inference feature-extraction pipeline ({"inputs": [...]} → one vector per input);
// tgi: an OpenAI-compatible /v1/embeddings (text-embeddings-inference serves it); generate: none.
absl::StatusOr<common::v1::EmbedResponse> HuggingFaceProvider::Embed(
    const rpc::CallContext& ctx, const std::string& upstream_model,
    const common::v1::EmbedRequest& req) {
  if (api_ == Api::kGenerate) return Provider::Embed(ctx, upstream_model, req);
  AIM_RETURN_IF_ERROR(RequireTextInput(kProvider, req));
  if (api_ == Api::kRouter && req.dimensions() > 0) {
    return Unsupported(kProvider, "dimensions",
                       "the feature-extraction pipeline returns the model's own size");
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  std::string path;
  if (api_ == Api::kRouter) {
    // Hugging Face model ids are "org/name": path segments, each escaped.
    AIM_ASSIGN_OR_RETURN(const std::string model, EscapePath(upstream_model, "model"));
    path = absl::StrCat("/hf-inference/models/", model, "/pipeline/feature-extraction");
    WriteKey(w, "inputs");
  } else {
    path = "/v1/embeddings";
    WriteKey(w, "model");
    WriteStr(w, upstream_model);
    WriteKey(w, "input");
  }
  w.StartArray();
  for (const std::string& text : req.input()) WriteStr(w, text);
  w.EndArray();
  if (api_ == Api::kTgi) {
    WriteKey(w, "encoding_format");
    WriteStr(w, "float");
    if (req.dimensions() > 0) {
      WriteKey(w, "dimensions");
      w.Int(req.dimensions());
    }
  }
  w.EndObject();
  HttpCallRequest http =
      endpoint_.Post(req.request_id(), path, std::string(buf.GetString(), buf.GetSize()));
  AIM_ASSIGN_OR_RETURN(UpstreamAnswer answer, CallUpstream(http_, std::move(http), ctx));
  if (answer.status < 200 || answer.status >= 300) {
    return ChatTranslator(upstream_model)
        .OnHttpError(answer.status, answer.body, answer.retry_after);
  }
  if (api_ == Api::kTgi) return ParseOpenAiEmbeddings(kProvider, answer.body, upstream_model);
  Document d;
  const bool parsed = json::ParseBounded(d, answer.body);
  common::v1::EmbedResponse resp;
  resp.set_model(upstream_model);
  AIM_RETURN_IF_ERROR(ReadVectors(kProvider, parsed ? &d : nullptr, resp));
  resp.mutable_usage();  // The pipeline reports no token counts.
  return resp;
}

HttpCallRequest HuggingFaceProvider::HealthRequest() const {
  return endpoint_.Get(api_ == Api::kRouter ? "/v1/models" : "/health");
}

}  // namespace aimarket::provider
