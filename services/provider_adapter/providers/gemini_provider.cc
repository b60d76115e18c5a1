#include "services/provider_adapter/providers/gemini_provider.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/gemini_request.h"
#include "services/provider_adapter/providers/json_translator.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/translate_util.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "gemini";

using rapidjson::Document;
using rapidjson::Value;

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
        if (ParseRetryAfter(v).has_value()) retry_after = std::string(v);
      }
    }
  }
  return UpstreamFailure(kProvider, status, StringOr(e, "message"), retry_after, client);
}

// A part that is a thought summary (reasoning), not answer text.
bool IsThought(const Value& part) {
  const Value* b = Member(part, "thought");
  return b != nullptr && b->IsBool() && b->GetBool();
}

// A functionCall's args as a JSON object text ({} when absent).
std::string Arguments(const Value& call) {
  const Value* args = Member(call, "args");
  return args != nullptr && args->IsObject() ? ToJson(*args) : "{}";
}

class GeminiTranslator final : public JsonTranslator {
 public:
  explicit GeminiTranslator(std::string model)
      : JsonTranslator(kProvider, NewCompletionId(), std::move(model), {}) {}

  absl::Status OnJson(absl::string_view, const Value& d, EventSink& sink) override {
    if (const Value* e = Member(d, "error")) return RpcError(500, *e, "");
    if (!started_) {
      started_ = true;
      if (std::string id = StringOr(d, "responseId"); !id.empty()) out().set_id(std::move(id));
      if (std::string m = StringOr(d, "modelVersion"); !m.empty()) out().set_model(std::move(m));
      sink.Emit(out().Role());
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
          if (!signed_) {
            if (std::string sig = StringOr(p, "thoughtSignature"); !sig.empty()) {
              signed_ = true;
              sink.Emit(out().ReasoningSignature(sig));
            }
          }
          if (IsThought(p)) {
            if (std::string text = StringOr(p, "text"); !text.empty())
              sink.Emit(out().Reasoning(text));
            continue;
          }
          if (const Value* text = Member(p, "text"); text != nullptr && text->IsString()) {
            if (text->GetStringLength() > 0) sink.Emit(out().Content(text->GetString()));
          } else if (const Value* call = Member(p, "functionCall")) {
            sink.Emit(out().ToolCallStart(calls_++, StringOr(*call, "id", NewToolCallId()),
                                          StringOr(*call, "name"), Arguments(*call)));
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
    if (!started_) sink.Emit(out().Role());
    if (finish_.empty() && finish_reason_.empty() && calls_ == 0) {
      return StreamCutShort(kProvider, "ended without a finish reason");
    }
    sink.Emit(out().Finish(!finish_.empty() ? finish_ : FinishReason(finish_reason_, calls_ > 0)));
    if (has_usage_) sink.Emit(out().UsageChunk(usage_));
    return absl::OkStatus();
  }

  absl::Status ReadAnswer(const Value& d, Completion& c) override {
    c.id = StringOr(d, "responseId", c.id);
    c.model = StringOr(d, "modelVersion", c.model);
    const Value* candidates = Member(d, "candidates");
    std::string reason;
    if (candidates != nullptr && candidates->IsArray() && !candidates->Empty()) {
      const Value& cand = (*candidates)[0];
      if (const Value* content = Member(cand, "content")) {
        if (const Value* parts = Member(*content, "parts"); parts != nullptr && parts->IsArray()) {
          for (const Value& p : parts->GetArray()) {
            if (c.reasoning_signature.empty())
              c.reasoning_signature = StringOr(p, "thoughtSignature");
            if (IsThought(p)) {
              c.reasoning += StringOr(p, "text");
            } else if (const Value* text = Member(p, "text"); text != nullptr && text->IsString()) {
              c.content += text->GetString();
            } else if (const Value* call = Member(p, "functionCall")) {
              c.AddToolCall(StringOr(*call, "id"), StringOr(*call, "name"), Arguments(*call));
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
  common::v1::Usage usage_;
  bool has_usage_ = false;
  bool started_ = false;
  bool signed_ = false;
  int calls_ = 0;
  std::string finish_reason_;  // Gemini's, from the last event that had one.
  std::string finish_;         // Ours, when decided by something else (a blocked prompt).
};

// The model is one path segment, escaped: "a/../b" or "a:x?y" stay inside it.
std::string ModelPath(const std::string& upstream_model, absl::string_view method) {
  return absl::StrCat("/v1beta/models/", EscapePathSegment(upstream_model), method);
}

absl::StatusOr<HttpCallRequest> GeminiChat(const HttpProvider& p, const std::string& upstream_model,
                                           const common::v1::ChatRequest& req) {
  AIM_ASSIGN_OR_RETURN(std::string body, BuildGeminiBody(req));
  return p.endpoint().Post(req,
                           ModelPath(upstream_model, req.stream() ? ":streamGenerateContent?alt=sse"
                                                                  : ":generateContent"),
                           std::move(body));
}

std::unique_ptr<Translator> NewGeminiTranslator(const HttpProvider&,
                                                const std::string& upstream_model) {
  return std::make_unique<GeminiTranslator>(upstream_model);
}

// POST /v1beta/models/{model}:batchEmbedContents: one request per input, in order.
absl::StatusOr<HttpCallRequest> GeminiEmbed(const HttpProvider& p,
                                            const std::string& upstream_model,
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
  return p.endpoint().Post(req.request_id(), ModelPath(upstream_model, ":batchEmbedContents"),
                           std::string(buf.GetString(), buf.GetSize()));
}

// Gemini reports no token counts for embeddings, so usage is 0.
absl::StatusOr<common::v1::EmbedResponse> ReadGeminiEmbeddings(const HttpProvider&,
                                                               const std::string& upstream_model,
                                                               absl::string_view body) {
  Document d;
  const Value* list = nullptr;
  if (json::ParseBounded(d, body)) list = Member(d, "embeddings");
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

constexpr WireFormat kGemini = {.chat = &GeminiChat,
                                .translator = &NewGeminiTranslator,
                                .health_path = "/v1beta/models",
                                .embed = &GeminiEmbed,
                                .read_embeddings = &ReadGeminiEmbeddings};

}  // namespace

GeminiProvider::GeminiProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                               absl::string_view api_key)
    : HttpProvider(config, http, kGemini, {KeyHeader("x-goog-api-key", api_key)}) {}

}  // namespace aimarket::provider
