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
  // The first fragment of tool call `index`: its id, name and the start of its arguments.
  common::v1::ChatEvent ToolCallStart(int index, absl::string_view id, absl::string_view name,
                                      absl::string_view arguments) const;
  common::v1::ChatEvent ToolCallArguments(int index, absl::string_view arguments) const;
  // delta {} with the finish reason.
  common::v1::ChatEvent Finish(absl::string_view reason) const;
  // {"choices":[],"usage":{...}}: the edge passes it on only to clients that asked for usage.
  common::v1::ChatEvent UsageChunk(const common::v1::Usage& usage) const;

 private:
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
  std::vector<common::v1::ToolCall> tool_calls;
  std::string finish_reason = "stop";
  common::v1::Usage usage;
  bool has_usage = false;
};

common::v1::ChatEvent RenderCompletion(const Completion& c);

// The usage object: prompt/completion/total tokens, with the details objects when known.
std::string UsageJson(const common::v1::Usage& usage);

}  // namespace aimarket::provider
