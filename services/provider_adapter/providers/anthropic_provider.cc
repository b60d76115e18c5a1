#include "services/provider_adapter/providers/anthropic_provider.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

constexpr absl::string_view kProvider = "anthropic";

using rapidjson::Document;
using rapidjson::Value;

// The finish reason for a stop_reason.
std::string FinishReason(absl::string_view stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded")
    return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn, and any later addition.
}

// Anthropic's usage object, read into `out` (fields absent keep their value: message_delta
// repeats only some of them).
void ReadUsage(const Value& u, common::v1::Usage& out, int64_t& input, int64_t& cache_write,
               int64_t& cache_read) {
  if (!u.IsObject()) return;
  input = IntOr(u, "input_tokens", input);
  cache_write = IntOr(u, "cache_creation_input_tokens", cache_write);
  cache_read = IntOr(u, "cache_read_input_tokens", cache_read);
  out.set_completion_tokens(IntOr(u, "output_tokens", out.completion_tokens()));
  out.set_prompt_tokens(input + cache_write + cache_read);
  out.set_cached_tokens(cache_read);
  out.set_cache_write_tokens(cache_write);
  out.set_total_tokens(out.prompt_tokens() + out.completion_tokens());
}

// An Anthropic error object ({"type","message"}) seen inside a stream.
absl::Status StreamError(const Value& e) {
  const std::string type = StringOr(e, "type");
  int status = 500;
  if (type == "overloaded_error")
    status = 529;
  else if (type == "rate_limit_error")
    status = 429;
  else if (type == "invalid_request_error")
    status = 400;
  else if (type == "authentication_error")
    status = 401;
  else if (type == "permission_error")
    status = 403;
  else if (type == "not_found_error")
    status = 404;
  else if (type == "request_too_large")
    status = 413;
  else if (type == "timeout_error")
    status = 504;
  else if (type == "billing_error")
    status = 402;
  return UpstreamFailure(kProvider, status, StringOr(e, "message"), "");
}

class AnthropicTranslator final : public JsonTranslator {
 public:
  AnthropicTranslator(std::string model, std::string json_tool)
      : JsonTranslator(kProvider, "", std::move(model), {}), json_tool_(std::move(json_tool)) {}

  absl::Status OnJson(absl::string_view, const Value& d, EventSink& sink) override {
    const std::string type = StringOr(d, "type");
    if (type == "message_start") {
      const Value* m = Member(d, "message");
      if (m == nullptr) return BadResponse(kProvider, "message_start without a message");
      out().set_id(StringOr(*m, "id", NewCompletionId()));
      if (std::string model = StringOr(*m, "model"); !model.empty())
        out().set_model(std::move(model));
      if (const Value* u = Member(*m, "usage"))
        ReadUsage(*u, usage_, input_, cache_write_, cache_read_);
      sink.Emit(out().Role());
    } else if (type == "content_block_start") {
      const Value* block = Member(d, "content_block");
      if (block == nullptr) return absl::OkStatus();
      const int index = static_cast<int>(IntOr(d, "index", -1));
      if (StringOr(*block, "type") == "tool_use") {
        const std::string name = StringOr(*block, "name");
        if (!json_tool_.empty() && name == json_tool_) {
          json_blocks_.insert(index);
          return absl::OkStatus();
        }
        const int k = next_tool_++;
        tools_[index] = Tool{k, false};
        sink.Emit(out().ToolCallStart(k, StringOr(*block, "id", NewToolCallId()), name, ""));
      }
    } else if (type == "content_block_delta") {
      const Value* delta = Member(d, "delta");
      if (delta == nullptr) return absl::OkStatus();
      const int index = static_cast<int>(IntOr(d, "index", -1));
      const std::string dtype = StringOr(*delta, "type");
      if (dtype == "text_delta") {
        const std::string text = StringOr(*delta, "text");
        if (!text.empty()) sink.Emit(out().Content(text));
      } else if (dtype == "thinking_delta") {
        const std::string text = StringOr(*delta, "thinking");
        if (!text.empty()) sink.Emit(out().Reasoning(text));
      } else if (dtype == "signature_delta") {
        // One signature per answer: the client echoes it back with the reasoning.
        const std::string sig = StringOr(*delta, "signature");
        if (!sig.empty() && !signed_) {
          signed_ = true;
          sink.Emit(out().ReasoningSignature(sig));
        }
      } else if (dtype == "input_json_delta") {
        const std::string part = StringOr(*delta, "partial_json");
        if (part.empty()) return absl::OkStatus();
        if (json_blocks_.contains(index)) {
          sink.Emit(out().Content(part));
        } else if (auto it = tools_.find(index); it != tools_.end()) {
          it->second.has_arguments = true;
          sink.Emit(out().ToolCallArguments(it->second.k, part));
        }
      }
      // citations_delta: not part of the OpenAI answer.
    } else if (type == "content_block_stop") {
      const int index = static_cast<int>(IntOr(d, "index", -1));
      if (auto it = tools_.find(index); it != tools_.end() && !it->second.has_arguments) {
        it->second.has_arguments = true;
        sink.Emit(out().ToolCallArguments(it->second.k, "{}"));  // A tool without input.
      }
    } else if (type == "message_delta") {
      if (const Value* u = Member(d, "usage"))
        ReadUsage(*u, usage_, input_, cache_write_, cache_read_);
      const Value* delta = Member(d, "delta");
      const std::string stop = delta != nullptr ? StringOr(*delta, "stop_reason") : "";
      if (!stop.empty() && !finished_) {
        finished_ = true;
        std::string reason = FinishReason(stop);
        if (reason == "tool_calls" && next_tool_ == 0)
          reason = "stop";  // Only the emulated JSON tool.
        sink.Emit(out().Finish(reason));
      }
    } else if (type == "message_stop") {
      stopped_ = true;
      sink.Emit(out().UsageChunk(usage_));
    } else if (type == "error") {
      const Value* e = Member(d, "error");
      return StreamError(e != nullptr ? *e : d);
    }
    // ping and event types added later: ignored.
    return absl::OkStatus();
  }

  absl::Status OnEnd(absl::string_view, EventSink& sink) override {
    if (stopped_) return absl::OkStatus();
    if (finished_) {
      sink.Emit(out().UsageChunk(usage_));
      return absl::OkStatus();
    }
    return StreamCutShort(kProvider, "ended before message_stop");
  }

  absl::Status ReadAnswer(const Value& d, Completion& c) override {
    c.id = StringOr(d, "id", NewCompletionId());
    c.model = StringOr(d, "model", c.model);
    if (const Value* content = Member(d, "content"); content != nullptr && content->IsArray()) {
      for (const Value& block : content->GetArray()) {
        const std::string type = StringOr(block, "type");
        if (type == "text") {
          c.content += StringOr(block, "text");
        } else if (type == "thinking") {
          c.reasoning += StringOr(block, "thinking");
          if (c.reasoning_signature.empty()) c.reasoning_signature = StringOr(block, "signature");
        } else if (type == "tool_use") {
          const Value* input = Member(block, "input");
          std::string args = input != nullptr && input->IsObject() ? ToJson(*input) : "{}";
          if (!json_tool_.empty() && StringOr(block, "name") == json_tool_) {
            c.content += args;
            continue;
          }
          c.AddToolCall(StringOr(block, "id"), StringOr(block, "name"), std::move(args));
        }
      }
    }
    c.finish_reason = FinishReason(StringOr(d, "stop_reason"));
    if (c.finish_reason == "tool_calls" && c.tool_calls.empty()) c.finish_reason = "stop";
    if (const Value* u = Member(d, "usage")) {
      int64_t input = 0, cache_write = 0, cache_read = 0;
      ReadUsage(*u, c.usage, input, cache_write, cache_read);
      c.has_usage = true;
    }
    return absl::OkStatus();
  }

 private:
  struct Tool {
    int k;  // The OpenAI tool-call index: the ordinal among tool_use blocks.
    bool has_arguments;
  };

  const std::string json_tool_;
  std::map<int, Tool> tools_;  // By Anthropic block index.
  std::set<int> json_blocks_;
  int next_tool_ = 0;
  common::v1::Usage usage_;
  int64_t input_ = 0, cache_write_ = 0, cache_read_ = 0;
  bool finished_ = false;
  bool stopped_ = false;
  bool signed_ = false;
};

}  // namespace

// Generate is AnthropicProvider's own: its translator knows the request's JSON tool.
constexpr WireFormat kAnthropic = {.health_path = "/v1/models"};

AnthropicProvider::AnthropicProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                                     absl::string_view api_key)
    : HttpProvider(config, http, kAnthropic,
                   {"anthropic-version: 2023-06-01", KeyHeader("x-api-key", api_key)}) {}

void AnthropicProvider::Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                                 const common::v1::ChatRequest& req,
                                 rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  absl::StatusOr<AnthropicRequest> built = BuildAnthropicRequest(req, upstream_model);
  if (!built.ok()) return observer.OnComplete(built.status());
  StartChat(ctx, req, endpoint().Post(req, "/v1/messages", std::move(built->body)),
            std::make_unique<AnthropicTranslator>(upstream_model, std::move(built->json_tool)),
            observer);
}

}  // namespace aimarket::provider
