#include "services/provider_adapter/providers/cohere_provider.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/json_translator.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/translate_util.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "cohere";

using rapidjson::Document;
using rapidjson::Value;

void WriteToolCalls(JsonWriter& w, const common::v1::ChatMessage& m) {
  WriteKey(w, "tool_calls");
  w.StartArray();
  for (const common::v1::ToolCall& t : m.tool_calls()) {
    w.StartObject();
    WriteKey(w, "id");
    WriteStr(w, t.id());
    WriteKey(w, "type");
    WriteStr(w, "function");
    WriteKey(w, "function");
    w.StartObject();
    WriteKey(w, "name");
    WriteStr(w, t.name());
    WriteKey(w, "arguments");
    WriteStr(w, t.arguments().empty() ? "{}" : t.arguments());
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

absl::Status WriteUserContent(JsonWriter& w, const common::v1::ChatMessage& m,
                              const std::string& param) {
  WriteKey(w, "content");
  if (m.parts().empty()) {
    WriteStr(w, m.content());
    return absl::OkStatus();
  }
  w.StartArray();
  int i = 0;
  for (const common::v1::ContentPart& p : m.parts()) {
    const std::string pp = absl::StrCat(param, ".content[", i++, "]");
    w.StartObject();
    if (p.has_text()) {
      WriteKey(w, "type");
      WriteStr(w, "text");
      WriteKey(w, "text");
      WriteStr(w, p.text());
    } else if (p.has_image_url()) {
      WriteKey(w, "type");
      WriteStr(w, "image_url");
      WriteKey(w, "image_url");
      w.StartObject();
      WriteKey(w, "url");
      WriteStr(w, p.image_url().url());
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  return absl::OkStatus();
}

std::string FinishReason(absl::string_view reason) {
  if (reason == "MAX_TOKENS") return "length";
  if (reason == "TOOL_CALL") return "tool_calls";
  return "stop";  // COMPLETE, STOP_SEQUENCE
}

// ERROR and TIMEOUT end the call with an error rather than a finish reason that hides the failure.
absl::Status FailedFinish(absl::string_view reason, const Value* delta) {
  std::string message = delta != nullptr ? StringOr(*delta, "error") : "";
  if (reason == "TIMEOUT") {
    return UpstreamFailure(kProvider, 504,
                           message.empty() ? "the cohere generation timed out" : message, "");
  }
  return UpstreamFailure(kProvider, 500, message.empty() ? "the cohere generation failed" : message,
                         "");
}

// The tokens the model processed (its preamble included), else the billed units; what Cohere
// bills (billed_units) apart, for the cost.
void ReadUsage(const Value& u, common::v1::Usage& out) {
  const Value* billed = Member(u, "billed_units");
  const Value* tokens = Member(u, "tokens");
  if (tokens == nullptr || !tokens->IsObject()) tokens = billed;
  if (tokens != nullptr && tokens->IsObject()) {
    out.set_prompt_tokens(IntOr(*tokens, "input_tokens"));
    out.set_completion_tokens(IntOr(*tokens, "output_tokens"));
  }
  if (billed != nullptr && billed->IsObject()) {
    out.set_billed_input_tokens(IntOr(*billed, "input_tokens"));
    out.set_billed_output_tokens(IntOr(*billed, "output_tokens"));
  }
  out.set_total_tokens(out.prompt_tokens() + out.completion_tokens());
  out.set_cached_tokens(IntOr(u, "cached_tokens"));
}

class CohereTranslator final : public JsonTranslator {
 public:
  explicit CohereTranslator(std::string model)
      : JsonTranslator(kProvider, NewCompletionId(), std::move(model),
                       {.cut_short = "ended before message-end"}) {}

  absl::Status OnEvent(absl::string_view name, absl::string_view data, EventSink& sink) override {
    if (data == "[DONE]") return absl::OkStatus();
    return JsonTranslator::OnEvent(name, data, sink);
  }

  absl::Status OnJson(absl::string_view, const Value& d, EventSink& sink) override {
    const std::string type = StringOr(d, "type");
    const Value* delta = Member(d, "delta");
    const Value* message = delta != nullptr ? Member(*delta, "message") : nullptr;
    if (type == "message-start") {
      if (std::string id = StringOr(d, "id"); !id.empty()) out().set_id(std::move(id));
      sink.Emit(out().Role());
    } else if (type == "content-delta" && message != nullptr) {
      if (const Value* content = Member(*message, "content")) {
        const std::string text = StringOr(*content, "text");
        if (!text.empty()) sink.Emit(out().Content(text));
        // A reasoning model's thinking arrives as content of its own type.
        const std::string thinking = StringOr(*content, "thinking");
        if (!thinking.empty()) sink.Emit(out().Reasoning(thinking));
      }
    } else if (type == "tool-call-start" && message != nullptr) {
      const Value* call = Member(*message, "tool_calls");
      if (call == nullptr) return absl::OkStatus();
      const Value* fn = Member(*call, "function");
      const int k = next_tool_++;
      tools_[static_cast<int>(IntOr(d, "index", k))] = k;
      sink.Emit(out().ToolCallStart(k, StringOr(*call, "id", NewToolCallId()),
                                    fn != nullptr ? StringOr(*fn, "name") : "",
                                    fn != nullptr ? StringOr(*fn, "arguments") : ""));
    } else if (type == "tool-call-delta" && message != nullptr) {
      const Value* call = Member(*message, "tool_calls");
      const Value* fn = call != nullptr ? Member(*call, "function") : nullptr;
      auto it = tools_.find(static_cast<int>(IntOr(d, "index", -1)));
      if (fn == nullptr || it == tools_.end()) return absl::OkStatus();
      const std::string args = StringOr(*fn, "arguments");
      if (!args.empty()) sink.Emit(out().ToolCallArguments(it->second, args));
    } else if (type == "message-end") {
      const std::string reason = delta != nullptr ? StringOr(*delta, "finish_reason") : "";
      if (reason == "ERROR" || reason == "TIMEOUT") return FailedFinish(reason, delta);
      End();
      sink.Emit(out().Finish(FinishReason(reason)));
      common::v1::Usage usage;
      if (const Value* u = delta != nullptr ? Member(*delta, "usage") : nullptr)
        ReadUsage(*u, usage);
      sink.Emit(out().UsageChunk(usage));
    }
    // content-start/end, tool-plan-delta, tool-call-end, citation-start/end, debug: nothing to say.
    return absl::OkStatus();
  }

  absl::Status ReadAnswer(const Value& d, Completion& c) override {
    const std::string reason = StringOr(d, "finish_reason");
    if (reason == "ERROR" || reason == "TIMEOUT") return FailedFinish(reason, nullptr);
    c.id = StringOr(d, "id", c.id);
    if (const Value* m = Member(d, "message")) {
      if (const Value* content = Member(*m, "content"); content != nullptr && content->IsArray()) {
        for (const Value& item : content->GetArray()) {
          const std::string type = StringOr(item, "type");
          if (type == "text") c.content += StringOr(item, "text");
          if (type == "thinking") c.reasoning += StringOr(item, "thinking");
        }
      }
      if (const Value* calls = Member(*m, "tool_calls"); calls != nullptr && calls->IsArray()) {
        for (const Value& call : calls->GetArray()) {
          const Value* fn = Member(call, "function");
          c.AddToolCall(StringOr(call, "id"), fn != nullptr ? StringOr(*fn, "name") : "",
                        fn != nullptr ? StringOr(*fn, "arguments", "{}") : "{}");
        }
      }
    }
    c.finish_reason = FinishReason(reason);
    if (const Value* u = Member(d, "usage")) {
      ReadUsage(*u, c.usage);
      c.has_usage = true;
    }
    return absl::OkStatus();
  }

 private:
  std::map<int, int> tools_;  // Cohere's tool-call index → ours.
  int next_tool_ = 0;
};

}  // namespace

absl::StatusOr<std::string> BuildCohereBody(const common::v1::ChatRequest& req,
                                            const std::string& upstream_model) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n", "it returns one generation; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "its log probabilities are not translated");
  if (req.stop_size() > 5)
    return Unsupported(kProvider, "stop", "it takes at most 5 stop sequences");

  // tool_choice: a named function is "REQUIRED" with only that tool offered.
  std::string choice;
  std::string only;
  if (!req.tool_choice_json().empty()) {
    Document d;
    (void)json::ParseBounded(d, req.tool_choice_json());
    if (d.IsString() && std::string(d.GetString()) == "required") {
      choice = "REQUIRED";
    } else if (d.IsString() && std::string(d.GetString()) == "none") {
      choice = "NONE";
    } else if (const Value* fn = Member(d, "function");
               fn != nullptr && Member(*fn, "name") != nullptr) {
      choice = "REQUIRED";
      only = StringOr(*fn, "name");
    } else if (!d.IsString() || std::string(d.GetString()) != "auto") {
      return status::Error(
                 absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                 "Invalid value for 'tool_choice': expected none, auto, required or a function.")
          .Param("tool_choice");
    }
  }

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "model");
  WriteStr(w, upstream_model);
  WriteKey(w, "messages");
  w.StartArray();
  int i = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    const std::string param = absl::StrCat("messages[", i++, "]");
    w.StartObject();
    if (m.role() == "system" || m.role() == "developer") {
      WriteKey(w, "role");
      WriteStr(w, "system");
      WriteKey(w, "content");
      WriteStr(w, MessageText(m, "\n"));
    } else if (m.role() == "tool" || m.role() == "function") {
      WriteKey(w, "role");
      WriteStr(w, "tool");
      WriteKey(w, "tool_call_id");
      WriteStr(w, m.tool_call_id());
      WriteKey(w, "content");
      w.StartArray();
      w.StartObject();
      WriteKey(w, "type");
      WriteStr(w, "document");
      WriteKey(w, "document");
      w.StartObject();
      WriteKey(w, "data");
      WriteStr(w, MessageText(m, "\n"));
      w.EndObject();
      w.EndObject();
      w.EndArray();
    } else if (m.role() == "assistant") {
      WriteKey(w, "role");
      WriteStr(w, "assistant");
      const std::string text = MessageText(m, "");
      if (!m.tool_calls().empty()) {
        if (!text.empty()) {
          WriteKey(w, "tool_plan");  // Cohere's name for the text beside tool calls.
          WriteStr(w, text);
        }
        WriteToolCalls(w, m);
      } else {
        WriteKey(w, "content");
        WriteStr(w, text);
      }
    } else {
      WriteKey(w, "role");
      WriteStr(w, "user");
      AIM_RETURN_IF_ERROR(WriteUserContent(w, m, param));
    }
    w.EndObject();
  }
  w.EndArray();
  if (!req.tools().empty()) WriteOpenAiTools(w, req.tools(), only);
  if (!choice.empty()) {
    WriteKey(w, "tool_choice");
    WriteStr(w, choice);
  }
  if (req.has_temperature()) {
    WriteKey(w, "temperature");
    w.Double(std::min(req.temperature(), 1.0));
  }
  if (req.has_top_p()) {
    WriteKey(w, "p");
    w.Double(std::clamp(req.top_p(), 0.01, 0.99));
  }
  if (req.has_max_tokens()) {
    WriteKey(w, "max_tokens");
    w.Int64(req.max_tokens());
  }
  if (!req.stop().empty()) {
    WriteStringArray(w, "stop_sequences", req.stop());
  }
  if (req.has_seed()) {
    WriteKey(w, "seed");
    w.Int64(req.seed());
  }
  if (req.has_frequency_penalty()) {
    WriteKey(w, "frequency_penalty");
    w.Double(std::max(0.0, req.frequency_penalty()));  // Cohere: 0-1.
  }
  if (req.has_presence_penalty()) {
    WriteKey(w, "presence_penalty");
    w.Double(std::max(0.0, req.presence_penalty()));
  }
  const common::v1::ResponseFormat& rf = req.response_format();
  if (rf.type() == "json_object" || rf.type() == "json_schema") {
    WriteKey(w, "response_format");
    w.StartObject();
    WriteKey(w, "type");
    WriteStr(w, "json_object");
    if (rf.type() == "json_schema" && !rf.schema_json().empty()) {
      WriteKey(w, "json_schema");
      WriteRawJson(w, rf.schema_json());
    }
    w.EndObject();
  }
  WriteKey(w, "stream");
  w.Bool(req.stream());
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

namespace {

absl::StatusOr<HttpCallRequest> CohereChat(const HttpProvider& p, const std::string& upstream_model,
                                           const common::v1::ChatRequest& req) {
  AIM_ASSIGN_OR_RETURN(std::string body, BuildCohereBody(req, upstream_model));
  return p.endpoint().Post(req, "/v2/chat", std::move(body));
}

std::unique_ptr<Translator> NewCohereTranslator(const HttpProvider&,
                                                const std::string& upstream_model) {
  return std::make_unique<CohereTranslator>(upstream_model);
}

// POST /v2/embed with input_type search_document and float embeddings.
absl::StatusOr<HttpCallRequest> CohereEmbed(const HttpProvider& p,
                                            const std::string& upstream_model,
                                            const common::v1::EmbedRequest& req) {
  AIM_RETURN_IF_ERROR(RequireTextInput(kProvider, req));
  return p.endpoint().Post(
      req.request_id(), "/v2/embed",
      TextEmbedBody(upstream_model, "texts", req, "output_dimension", [](JsonWriter& w) {
        WriteKey(w, "input_type");
        WriteStr(w, "search_document");
        WriteKey(w, "embedding_types");
        w.StartArray();
        WriteStr(w, "float");
        w.EndArray();
      }));
}

absl::StatusOr<common::v1::EmbedResponse> ReadCohereEmbeddings(const HttpProvider&,
                                                               const std::string& upstream_model,
                                                               absl::string_view body) {
  Document d;
  const Value* list = nullptr;
  if (json::ParseBounded(d, body)) {
    if (const Value* e = Member(d, "embeddings")) list = e->IsObject() ? Member(*e, "float") : e;
  }
  common::v1::EmbedResponse resp;
  resp.set_model(upstream_model);
  AIM_RETURN_IF_ERROR(ReadVectors(kProvider, list, resp));
  int64_t tokens = 0;
  if (const Value* meta = Member(d, "meta")) {
    if (const Value* billed = Member(*meta, "billed_units"))
      tokens = IntOr(*billed, "input_tokens");
  }
  resp.mutable_usage()->set_prompt_tokens(tokens);
  resp.mutable_usage()->set_total_tokens(tokens);
  return resp;
}

constexpr WireFormat kCohere = {.chat = &CohereChat,
                                .translator = &NewCohereTranslator,
                                .health_path = "/v1/models",
                                .embed = &CohereEmbed,
                                .read_embeddings = &ReadCohereEmbeddings};

}  // namespace

CohereProvider::CohereProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                               absl::string_view api_key)
    : HttpProvider(config, http, kCohere, {BearerAuth(api_key)}) {}

}  // namespace aimarket::provider
