#pragma once

// OpenAI's response shapes, written by the adapters whose upstream speaks another format: each
// chunk of a stream (`chat.completion.chunk`) and the whole answer (`chat.completion`), as the
// ChatEvent the edge writes out verbatim (raw_json) plus the structured fields that metering and
// the router read (usage, finish reasons).
//
//   ChunkWriter out(NewCompletionId(), "claude-sonnet-4-5", created);
//   sink.Emit(out.Role());
//   sink.Emit(out.Content("Hello"));
//   sink.Emit(out.ToolCallStart(0, "toolu_01", "get_weather", ""));
//   sink.Emit(out.ToolCallArguments(0, "{\"city\":"));
//   sink.Emit(out.Finish("tool_calls"));
//   sink.Emit(out.UsageChunk(usage));

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "aimarket/common/v1/chat.pb.h"

namespace aimarket::provider {

// "chatcmpl-" and 24 random letters and digits.
std::string NewCompletionId();
// "call_" and 24 random letters and digits: for providers that give tool calls no id, or the same
// id to every call.
std::string NewToolCallId();

class ChunkWriter {
 public:
  ChunkWriter(std::string id, std::string model, int64_t created)
      : id_(std::move(id)), model_(std::move(model)), created_(created) {}

  void set_id(std::string id) { id_ = std::move(id); }
  void set_model(std::string model) { model_ = std::move(model); }
  const std::string& id() const { return id_; }
  const std::string& model() const { return model_; }

  // delta {"role":"assistant","content":""}
  common::v1::ChatEvent Role() const;
  common::v1::ChatEvent Content(absl::string_view text) const;
  common::v1::ChatEvent Refusal(absl::string_view text) const;
  // The model's reasoning, apart from its answer: delta {"reasoning_content": text} (the field
  // DeepSeek, vLLM and LiteLLM use; OpenAI's SDKs pass it through).
  common::v1::ChatEvent Reasoning(absl::string_view text) const;
  // delta {"reasoning_signature": sig}: the provider's opaque proof of the reasoning above, which
  // the client echoes back on the assistant message (docs/providers.md, "Reasoning").
  common::v1::ChatEvent ReasoningSignature(absl::string_view signature) const;
  // The first fragment of tool call `index`: its id, name and the start of its arguments.
  common::v1::ChatEvent ToolCallStart(int index, absl::string_view id, absl::string_view name,
                                      absl::string_view arguments) const;
  common::v1::ChatEvent ToolCallArguments(int index, absl::string_view arguments) const;
  // delta {} with the finish reason.
  common::v1::ChatEvent Finish(absl::string_view reason) const;
  // {"choices":[],"usage":{...}}: the edge passes it on only to clients that asked for usage.
  common::v1::ChatEvent UsageChunk(const common::v1::Usage& usage) const;

 private:
  // delta {key: value}.
  common::v1::ChatEvent Field(absl::string_view key, absl::string_view value) const;

  std::string id_;
  std::string model_;
  int64_t created_;
};

// A whole answer with one choice.
struct Completion {
  std::string id;
  std::string model;
  int64_t created = 0;
  // null in the JSON when empty and there are tool calls or a refusal.
  std::string content;
  std::string refusal;
  // message.reasoning_content and message.reasoning_signature, written when not empty.
  std::string reasoning;
  std::string reasoning_signature;
  std::vector<common::v1::ToolCall> tool_calls;
  std::string finish_reason = "stop";
  common::v1::Usage usage;
  bool has_usage = false;

  // Appends a function call with the next index; `id` "" gets a new one (NewToolCallId).
  void AddToolCall(std::string id, std::string name, std::string arguments);
};

common::v1::ChatEvent RenderCompletion(const Completion& c);

// The usage object: prompt/completion/total tokens, with the details objects when known.
std::string UsageJson(const common::v1::Usage& usage);

}  // namespace aimarket::provider
