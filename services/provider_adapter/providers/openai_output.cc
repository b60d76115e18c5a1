#include "services/provider_adapter/providers/openai_output.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace aimarket::provider {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string RandomAlnum(int n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local absl::BitGen gen;
  std::string s(n, ' ');
  for (char& c : s) c = kChars[absl::Uniform(gen, 0u, sizeof(kChars) - 1)];
  return s;
}

void String(Writer& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void Key(Writer& w, absl::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteUsage(Writer& w, const common::v1::Usage& u) {
  w.StartObject();
  Key(w, "prompt_tokens");
  w.Int64(u.prompt_tokens());
  Key(w, "completion_tokens");
  w.Int64(u.completion_tokens());
  Key(w, "total_tokens");
  w.Int64(u.total_tokens());
  Key(w, "prompt_tokens_details");
  w.StartObject();
  Key(w, "cached_tokens");
  w.Int64(u.cached_tokens());
  w.EndObject();
  Key(w, "completion_tokens_details");
  w.StartObject();
  Key(w, "reasoning_tokens");
  w.Int64(u.reasoning_tokens());
  w.EndObject();
  w.EndObject();
}

void WriteHead(Writer& w, const std::string& id, absl::string_view object, int64_t created,
               const std::string& model) {
  Key(w, "id");
  String(w, id);
  Key(w, "object");
  String(w, object);
  Key(w, "created");
  w.Int64(created);
  Key(w, "model");
  String(w, model);
}

void WriteToolCall(Writer& w, int index, absl::string_view id, absl::string_view name,
                   absl::string_view args, bool with_index) {
  w.StartObject();
  if (with_index) {
    Key(w, "index");
    w.Int(index);
  }
  if (!id.empty()) {
    Key(w, "id");
    String(w, id);
    Key(w, "type");
    String(w, "function");
  }
  Key(w, "function");
  w.StartObject();
  if (!id.empty()) {
    Key(w, "name");
    String(w, name);
  }
  Key(w, "arguments");
  String(w, args);
  w.EndObject();
  w.EndObject();
}

}  // namespace

std::string NewCompletionId() { return absl::StrCat("chatcmpl-", RandomAlnum(24)); }

std::string NewToolCallId() { return absl::StrCat("call_", RandomAlnum(24)); }

namespace {

// One chunk with one choice whose delta `delta` writes; `finish` null unless given.
template <typename F>
common::v1::ChatEvent Chunk(const std::string& id, const std::string& model, int64_t created,
                            F&& delta, absl::string_view finish = {}) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  WriteHead(w, id, "chat.completion.chunk", created, model);
  Key(w, "choices");
  w.StartArray();
  w.StartObject();
  Key(w, "index");
  w.Int(0);
  Key(w, "delta");
  w.StartObject();
  delta(w);
  w.EndObject();
  Key(w, "logprobs");
  w.Null();
  Key(w, "finish_reason");
  if (finish.empty()) {
    w.Null();
  } else {
    String(w, finish);
  }
  w.EndObject();
  w.EndArray();
  w.EndObject();
  common::v1::ChatEvent ev;
  ev.set_id(id);
  ev.set_model(model);
  ev.set_created(created);
  ev.set_raw_json(buf.GetString(), buf.GetSize());
  if (!finish.empty()) {
    common::v1::ChoiceDelta& c = *ev.add_choices();
    c.set_index(0);
    c.set_finish_reason(std::string(finish));
  }
  return ev;
}

}  // namespace

common::v1::ChatEvent ChunkWriter::Role() const {
  return Chunk(id_, model_, created_, [](Writer& w) {
    Key(w, "role");
    String(w, "assistant");
    Key(w, "content");
    String(w, "");
  });
}

common::v1::ChatEvent ChunkWriter::Field(absl::string_view key, absl::string_view value) const {
  return Chunk(id_, model_, created_, [key, value](Writer& w) {
    Key(w, key);
    String(w, value);
  });
}

common::v1::ChatEvent ChunkWriter::Content(absl::string_view text) const {
  return Field("content", text);
}

common::v1::ChatEvent ChunkWriter::Refusal(absl::string_view text) const {
  return Field("refusal", text);
}

common::v1::ChatEvent ChunkWriter::Reasoning(absl::string_view text) const {
  return Field("reasoning_content", text);
}

common::v1::ChatEvent ChunkWriter::ReasoningSignature(absl::string_view signature) const {
  return Field("reasoning_signature", signature);
}

void Completion::AddToolCall(std::string id, std::string name, std::string arguments) {
  common::v1::ToolCall& t = tool_calls.emplace_back();
  t.set_index(static_cast<int>(tool_calls.size()) - 1);
  t.set_id(id.empty() ? NewToolCallId() : std::move(id));
  t.set_type("function");
  t.set_name(std::move(name));
  t.set_arguments(std::move(arguments));
}

common::v1::ChatEvent ChunkWriter::ToolCallStart(int index, absl::string_view id,
                                                 absl::string_view name,
                                                 absl::string_view arguments) const {
  return Chunk(id_, model_, created_, [&](Writer& w) {
    Key(w, "tool_calls");
    w.StartArray();
    WriteToolCall(w, index, id, name, arguments, true);
    w.EndArray();
  });
}

common::v1::ChatEvent ChunkWriter::ToolCallArguments(int index, absl::string_view arguments) const {
  return Chunk(id_, model_, created_, [&](Writer& w) {
    Key(w, "tool_calls");
    w.StartArray();
    WriteToolCall(w, index, "", "", arguments, true);
    w.EndArray();
  });
}

common::v1::ChatEvent ChunkWriter::Finish(absl::string_view reason) const {
  return Chunk(
      id_, model_, created_, [](Writer&) {}, reason);
}

common::v1::ChatEvent ChunkWriter::UsageChunk(const common::v1::Usage& usage) const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  WriteHead(w, id_, "chat.completion.chunk", created_, model_);
  Key(w, "choices");
  w.StartArray();
  w.EndArray();
  Key(w, "usage");
  WriteUsage(w, usage);
  w.EndObject();
  common::v1::ChatEvent ev;
  ev.set_id(id_);
  ev.set_model(model_);
  ev.set_created(created_);
  ev.set_raw_json(buf.GetString(), buf.GetSize());
  *ev.mutable_usage() = usage;
  ev.set_usage_only(true);
  return ev;
}

common::v1::ChatEvent RenderCompletion(const Completion& c) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  WriteHead(w, c.id, "chat.completion", c.created, c.model);
  Key(w, "choices");
  w.StartArray();
  w.StartObject();
  Key(w, "index");
  w.Int(0);
  Key(w, "message");
  w.StartObject();
  Key(w, "role");
  String(w, "assistant");
  Key(w, "content");
  if (c.content.empty() && (!c.tool_calls.empty() || !c.refusal.empty())) {
    w.Null();
  } else {
    String(w, c.content);
  }
  Key(w, "refusal");
  if (c.refusal.empty()) {
    w.Null();
  } else {
    String(w, c.refusal);
  }
  if (!c.reasoning.empty()) {
    Key(w, "reasoning_content");
    String(w, c.reasoning);
  }
  if (!c.reasoning_signature.empty()) {
    Key(w, "reasoning_signature");
    String(w, c.reasoning_signature);
  }
  if (!c.tool_calls.empty()) {
    Key(w, "tool_calls");
    w.StartArray();
    for (const common::v1::ToolCall& t : c.tool_calls)
      WriteToolCall(w, t.index(), t.id(), t.name(), t.arguments(), false);
    w.EndArray();
  }
  w.EndObject();
  Key(w, "logprobs");
  w.Null();
  Key(w, "finish_reason");
  String(w, c.finish_reason);
  w.EndObject();
  w.EndArray();
  if (c.has_usage) {
    Key(w, "usage");
    WriteUsage(w, c.usage);
  }
  w.EndObject();
  common::v1::ChatEvent ev;
  ev.set_id(c.id);
  ev.set_model(c.model);
  ev.set_created(c.created);
  ev.set_completion(true);
  ev.set_raw_json(buf.GetString(), buf.GetSize());
  if (c.has_usage) *ev.mutable_usage() = c.usage;
  common::v1::ChoiceDelta& choice = *ev.add_choices();
  choice.set_index(0);
  choice.set_finish_reason(c.finish_reason);
  return ev;
}

std::string UsageJson(const common::v1::Usage& usage) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  WriteUsage(w, usage);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace aimarket::provider
