#include "services/provider_adapter/providers/ollama_provider.h"

#include <map>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/image_fetch.h"
#include "services/provider_adapter/providers/json_translator.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/translate_util.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "ollama";

using rapidjson::Document;
using rapidjson::Value;

void ReadUsage(const Value& d, common::v1::Usage& out) {
  // Both counts are omitted when zero (a fully cached prompt).
  out.set_prompt_tokens(IntOr(d, "prompt_eval_count"));
  out.set_completion_tokens(IntOr(d, "eval_count"));
  out.set_total_tokens(out.prompt_tokens() + out.completion_tokens());
}

std::string FinishReason(absl::string_view done_reason, bool calls) {
  if (done_reason == "length") return "length";
  return calls ? "tool_calls" : "stop";  // stop, load, unload
}

absl::Status LineError(const Value& d) {
  const Value* e = Member(d, "error");
  std::string message =
      e != nullptr && e->IsString() ? e->GetString() : (e != nullptr ? ToJson(*e) : "");
  return UpstreamFailure(kProvider, 500, std::move(message), "");
}

class OllamaTranslator final : public JsonTranslator {
 public:
  explicit OllamaTranslator(std::string model)
      : JsonTranslator(kProvider, NewCompletionId(), std::move(model),
                       {.unit = "a line", .cut_short = "ended before its done line"}) {}

  absl::Status OnJson(absl::string_view, const Value& d, EventSink& sink) override {
    if (Member(d, "error") != nullptr) return LineError(d);
    if (!started_) {
      started_ = true;
      if (std::string m = StringOr(d, "model"); !m.empty()) out().set_model(std::move(m));
      sink.Emit(out().Role());
    }
    if (const Value* m = Member(d, "message")) {
      if (std::string text = StringOr(*m, "thinking"); !text.empty())
        sink.Emit(out().Reasoning(text));
      if (std::string text = StringOr(*m, "content"); !text.empty()) sink.Emit(out().Content(text));
      if (const Value* calls = Member(*m, "tool_calls"); calls != nullptr && calls->IsArray()) {
        for (const Value& call : calls->GetArray()) {
          const Value* fn = Member(call, "function");
          if (fn == nullptr) continue;
          sink.Emit(out().ToolCallStart(calls_++, StringOr(call, "id", NewToolCallId()),
                                        StringOr(*fn, "name"), Arguments(*fn)));
        }
      }
    }
    if (const Value* done = Member(d, "done");
        done != nullptr && done->IsBool() && done->GetBool()) {
      End();
      sink.Emit(out().Finish(FinishReason(StringOr(d, "done_reason"), calls_ > 0)));
      common::v1::Usage usage;
      ReadUsage(d, usage);
      sink.Emit(out().UsageChunk(usage));
    }
    return absl::OkStatus();
  }

  absl::Status ReadAnswer(const Value& d, Completion& c) override {
    if (Member(d, "error") != nullptr) return LineError(d);
    c.model = StringOr(d, "model", c.model);
    if (const Value* m = Member(d, "message")) {
      c.content = StringOr(*m, "content");
      c.reasoning = StringOr(*m, "thinking");
      if (const Value* calls = Member(*m, "tool_calls"); calls != nullptr && calls->IsArray()) {
        for (const Value& call : calls->GetArray()) {
          const Value* fn = Member(call, "function");
          if (fn == nullptr) continue;
          c.AddToolCall(StringOr(call, "id"), StringOr(*fn, "name"), Arguments(*fn));
        }
      }
    }
    c.finish_reason = FinishReason(StringOr(d, "done_reason"), !c.tool_calls.empty());
    ReadUsage(d, c.usage);
    c.has_usage = true;
    return absl::OkStatus();
  }

 private:
  // Arguments arrive as an object (older servers: sometimes a JSON string).
  static std::string Arguments(const Value& fn) {
    const Value* a = Member(fn, "arguments");
    if (a == nullptr) return "{}";
    if (a->IsString())
      return a->GetStringLength() == 0 ? "{}" : std::string(a->GetString(), a->GetStringLength());
    return ToJson(*a);
  }

  bool started_ = false;
  int calls_ = 0;
};

}  // namespace

absl::StatusOr<std::string> BuildOllamaBody(const common::v1::ChatRequest& req,
                                            const std::string& upstream_model,
                                            const std::map<std::string, DataUrl>& fetched) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n", "it returns one answer; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "its log probabilities are not translated");
  bool send_tools = !req.tools().empty();
  if (!req.tool_choice_json().empty()) {
    Document d;
    (void)json::ParseBounded(d, req.tool_choice_json());
    if (d.IsString() && std::string(d.GetString()) == "none") {
      send_tools = false;  // No tools offered: none can be called.
    } else if (!d.IsString() || std::string(d.GetString()) != "auto") {
      return Unsupported(kProvider, "tool_choice",
                         "it cannot be made to call a tool; use auto or none");
    }
  }
  const std::map<std::string, std::string> names = ToolNamesById(req);

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
    std::string role = m.role();
    if (role == "developer") role = "system";
    if (role == "function") role = "tool";
    WriteKey(w, "role");
    WriteStr(w, role);
    WriteKey(w, "content");
    WriteStr(w, MessageText(m, "\n"));
    std::vector<std::string> images;
    int j = 0;
    for (const common::v1::ContentPart& p : m.parts()) {
      const std::string pp = absl::StrCat(param, ".content[", j++, "].image_url.url");
      if (!p.has_image_url()) continue;
      std::optional<DataUrl> data = ParseDataUrl(p.image_url().url());
      if (!data.has_value()) {
        auto it = fetched.find(p.image_url().url());
        if (it == fetched.end()) {
          return Unsupported(
              kProvider, pp,
              "it needs the image's bytes; send a data: URL (fetching remote images is off: "
              "remote_images.fetch in the config)");
        }
        data = it->second;
      }
      images.push_back(std::move(data->base64));
    }
    if (!images.empty()) {
      WriteKey(w, "images");
      w.StartArray();
      for (const std::string& img : images) WriteStr(w, img);
      w.EndArray();
    }
    if (!m.tool_calls().empty()) {
      WriteKey(w, "tool_calls");
      w.StartArray();
      int k = 0;
      for (const common::v1::ToolCall& t : m.tool_calls()) {
        const std::string tp = absl::StrCat(param, ".tool_calls[", k++, "].function.arguments");
        AIM_ASSIGN_OR_RETURN(std::string args, ArgumentsObject(t.arguments(), tp));
        w.StartObject();
        WriteKey(w, "function");
        w.StartObject();
        WriteKey(w, "name");
        WriteStr(w, t.name());
        WriteKey(w, "arguments");
        WriteRawJson(w, args);
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
    }
    if (role == "tool") {
      auto name = names.find(m.tool_call_id());
      if (name != names.end()) {
        WriteKey(w, "tool_name");
        WriteStr(w, name->second);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  if (send_tools) WriteOpenAiTools(w, req.tools());
  const common::v1::ResponseFormat& rf = req.response_format();
  if (rf.type() == "json_object" || (rf.type() == "json_schema" && rf.schema_json().empty())) {
    WriteKey(w, "format");
    WriteStr(w, "json");
  } else if (rf.type() == "json_schema") {
    WriteKey(w, "format");
    WriteRawJson(w, rf.schema_json());
  }
  if (!req.reasoning_effort().empty()) {
    // Ollama's switch for thinking models (the levels gpt-oss takes instead are not mapped).
    WriteKey(w, "think");
    w.Bool(req.reasoning_effort() != "none");
  }
  WriteKey(w, "stream");
  w.Bool(req.stream());
  const bool options = req.has_temperature() || req.has_top_p() || req.has_max_tokens() ||
                       !req.stop().empty() || req.has_seed() || req.has_frequency_penalty() ||
                       req.has_presence_penalty();
  if (options) {
    WriteKey(w, "options");
    w.StartObject();
    if (req.has_temperature()) {
      WriteKey(w, "temperature");
      w.Double(req.temperature());
    }
    if (req.has_top_p()) {
      WriteKey(w, "top_p");
      w.Double(req.top_p());
    }
    if (req.has_max_tokens()) {
      WriteKey(w, "num_predict");
      w.Int64(req.max_tokens());
    }
    if (!req.stop().empty()) {
      WriteStringArray(w, "stop", req.stop());
    }
    if (req.has_seed()) {
      WriteKey(w, "seed");
      w.Int64(req.seed());
    }
    if (req.has_frequency_penalty()) {
      WriteKey(w, "frequency_penalty");
      w.Double(req.frequency_penalty());
    }
    if (req.has_presence_penalty()) {
      WriteKey(w, "presence_penalty");
      w.Double(req.presence_penalty());
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

namespace {

absl::StatusOr<HttpCallRequest> OllamaRequest(const HttpProvider& p,
                                              const std::string& upstream_model,
                                              const common::v1::ChatRequest& req,
                                              const std::map<std::string, DataUrl>& fetched) {
  AIM_ASSIGN_OR_RETURN(std::string body, BuildOllamaBody(req, upstream_model, fetched));
  return p.endpoint().Post(req, "/api/chat", std::move(body), "application/x-ndjson");
}

absl::StatusOr<HttpCallRequest> OllamaChat(const HttpProvider& p, const std::string& upstream_model,
                                           const common::v1::ChatRequest& req) {
  return OllamaRequest(p, upstream_model, req, {});
}

std::unique_ptr<Translator> NewOllamaTranslator(const HttpProvider&,
                                                const std::string& upstream_model) {
  return std::make_unique<OllamaTranslator>(upstream_model);
}

absl::StatusOr<HttpCallRequest> OllamaEmbed(const HttpProvider& p,
                                            const std::string& upstream_model,
                                            const common::v1::EmbedRequest& req) {
  AIM_RETURN_IF_ERROR(RequireTextInput(kProvider, req));
  return p.endpoint().Post(req.request_id(), "/api/embed",
                           TextEmbedBody(upstream_model, "input", req, "dimensions"));
}

absl::StatusOr<common::v1::EmbedResponse> ReadOllamaEmbeddings(const HttpProvider&,
                                                               const std::string& upstream_model,
                                                               absl::string_view body) {
  Document d;
  const Value* list = nullptr;
  if (json::ParseBounded(d, body)) list = Member(d, "embeddings");
  common::v1::EmbedResponse resp;
  resp.set_model(StringOr(d, "model", upstream_model));
  AIM_RETURN_IF_ERROR(ReadVectors(kProvider, list, resp));
  resp.mutable_usage()->set_prompt_tokens(IntOr(d, "prompt_eval_count"));
  resp.mutable_usage()->set_total_tokens(resp.usage().prompt_tokens());
  return resp;
}

constexpr WireFormat kOllama = {.chat = &OllamaChat,
                                .translator = &NewOllamaTranslator,
                                .framing = Framing::kNdjson,
                                .health_path = "/api/tags",
                                .embed = &OllamaEmbed,
                                .read_embeddings = &ReadOllamaEmbeddings};

}  // namespace

OllamaProvider::OllamaProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                               const config::v1::RemoteImagesConfig& images,
                               absl::string_view api_key)
    : HttpProvider(config, http, kOllama, {BearerAuth(api_key)}), images_(images) {}

void OllamaProvider::Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                              const common::v1::ChatRequest& req,
                              rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  std::vector<RemoteImage> remote = RemoteImages(req);
  if (remote.empty() || !images_.fetch()) {
    return HttpProvider::Generate(ctx, upstream_model, req, observer);
  }
  FetchImages(http(), images_, std::move(remote), ctx,
              [this, ctx, upstream_model, &req,
               &observer](absl::StatusOr<std::map<std::string, DataUrl>> fetched) {
                if (!fetched.ok()) return observer.OnComplete(fetched.status());
                StartChat(ctx, req, OllamaRequest(*this, upstream_model, req, *fetched),
                          std::make_unique<OllamaTranslator>(upstream_model), observer);
              });
}

}  // namespace aimarket::provider
