#include "services/provider_adapter/providers/anthropic_request.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "anthropic";

using rapidjson::Document;
using rapidjson::Value;

// One message on the wire: its role and content blocks, each already serialized; a message that
// is one plain text goes out as a string.
struct WireMessage {
  std::string role;
  std::vector<std::string> blocks;
  std::string text;  // When `blocks` is empty.
  bool plain = false;
};

std::string TextBlock(absl::string_view text) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, "text");
  WriteKey(w, "text");
  WriteStr(w, text);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<std::string> ImageBlock(const common::v1::ImageUrl& image,
                                       const std::string& param) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, "image");
  WriteKey(w, "source");
  w.StartObject();
  if (std::optional<DataUrl> data = ParseDataUrl(image.url()); data.has_value()) {
    WriteKey(w, "type");
    WriteStr(w, "base64");
    WriteKey(w, "media_type");
    WriteStr(w, data->mime_type);
    WriteKey(w, "data");
    WriteStr(w, data->base64);
  } else if (absl::StartsWith(image.url(), "https://") ||
             absl::StartsWith(image.url(), "http://")) {
    WriteKey(w, "type");
    WriteStr(w, "url");
    WriteKey(w, "url");
    WriteStr(w, image.url());
  } else {
    return InvalidImageUrl(param);
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// A message's content as blocks (text and images).
absl::Status AppendContent(const common::v1::ChatMessage& m, const std::string& param,
                           WireMessage& out) {
  if (m.parts().empty()) {
    if (!m.content().empty()) out.blocks.push_back(TextBlock(m.content()));
    return absl::OkStatus();
  }
  int i = 0;
  for (const common::v1::ContentPart& p : m.parts()) {
    const std::string pp = absl::StrCat(param, ".content[", i++, "]");
    if (p.has_text()) {
      out.blocks.push_back(TextBlock(p.text()));
    } else if (p.has_image_url()) {
      AIM_ASSIGN_OR_RETURN(std::string block, ImageBlock(p.image_url(), pp + ".image_url.url"));
      out.blocks.push_back(std::move(block));
    }
  }
  return absl::OkStatus();
}

std::string ToolResultBlock(const common::v1::ChatMessage& m) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, "tool_result");
  WriteKey(w, "tool_use_id");
  WriteStr(w, m.tool_call_id());
  WriteKey(w, "content");
  WriteStr(w, MessageText(m, "\n"));
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// Appends `next` to the conversation, merging it into the last message when the roles match
// (the API expects user and assistant turns to alternate).
void Push(std::vector<WireMessage>& out, WireMessage next) {
  if (!out.empty() && out.back().role == next.role) {
    WireMessage& last = out.back();
    if (last.plain) {
      last.blocks.push_back(TextBlock(last.text));
      last.plain = false;
    }
    if (next.plain) next.blocks.push_back(TextBlock(next.text));
    for (std::string& b : next.blocks) last.blocks.push_back(std::move(b));
    return;
  }
  out.push_back(std::move(next));
}

absl::Status WriteToolChoice(JsonWriter& w, const common::v1::ChatRequest& req) {
  const bool no_parallel = req.has_parallel_tool_calls() && !req.parallel_tool_calls();
  if (req.tool_choice_json().empty() && !no_parallel) return absl::OkStatus();
  std::string type = "auto";
  std::string name;
  if (!req.tool_choice_json().empty()) {
    Document d;
    (void)json::ParseBounded(d, req.tool_choice_json());
    if (d.IsString()) {
      const std::string choice = d.GetString();
      if (choice == "required") {
        type = "any";
      } else if (choice == "none") {
        type = "none";
      } else if (choice != "auto") {
        return status::Error(
                   absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                   "Invalid value for 'tool_choice': expected none, auto, required or a function.")
            .Param("tool_choice");
      }
    } else if (const Value* fn = Member(d, "function");
               fn != nullptr && Member(*fn, "name") != nullptr) {
      type = "tool";
      name = StringOr(*fn, "name");
    } else {
      return status::Error(
                 absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                 "Invalid value for 'tool_choice': expected none, auto, required or a function.")
          .Param("tool_choice");
    }
  }
  WriteKey(w, "tool_choice");
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, type);
  if (!name.empty()) {
    WriteKey(w, "name");
    WriteStr(w, name);
  }
  if (no_parallel && type != "none") {
    WriteKey(w, "disable_parallel_tool_use");
    w.Bool(true);
  }
  w.EndObject();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ToolUseBlock(const common::v1::ToolCall& t, const std::string& param) {
  AIM_ASSIGN_OR_RETURN(std::string input,
                       ArgumentsObject(t.arguments(), param + ".function.arguments"));
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, "tool_use");
  WriteKey(w, "id");
  WriteStr(w, t.id().empty() ? NewToolCallId() : t.id());
  WriteKey(w, "name");
  WriteStr(w, t.name());
  WriteKey(w, "input");
  WriteRawJson(w, input);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// The conversation: system and developer messages into `system`, the rest as alternating user
// and assistant messages.
absl::Status ReadMessages(const common::v1::ChatRequest& req, std::vector<std::string>& system,
                          std::vector<WireMessage>& messages) {
  int i = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    const std::string param = absl::StrCat("messages[", i++, "]");
    const std::string& role = m.role();
    if (role == "system" || role == "developer") {
      system.push_back(MessageText(m, "\n"));
      continue;
    }
    WireMessage wm;
    if (role == "tool" || role == "function") {
      wm.role = "user";
      wm.blocks.push_back(ToolResultBlock(m));
    } else {
      wm.role = role == "assistant" ? "assistant" : "user";
      const bool only_text = m.parts().empty() && m.tool_calls().empty();
      if (only_text) {
        wm.plain = true;
        wm.text = m.content();
        if (wm.text.empty() && wm.role == "assistant")
          continue;  // An empty assistant turn says nothing.
      } else {
        AIM_RETURN_IF_ERROR(AppendContent(m, param, wm));
      }
      int j = 0;
      for (const common::v1::ToolCall& t : m.tool_calls()) {
        AIM_ASSIGN_OR_RETURN(std::string block,
                             ToolUseBlock(t, absl::StrCat(param, ".tool_calls[", j++, "]")));
        wm.blocks.push_back(std::move(block));
      }
    }
    Push(messages, std::move(wm));
  }
  if (messages.empty()) {
    return status::Error(
               absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
               "Invalid value for 'messages': the anthropic provider needs at least one user or "
               "assistant message besides the system prompt.")
        .Param("messages");
  }
  return absl::OkStatus();
}

void WriteMessages(JsonWriter& w, const std::vector<WireMessage>& messages) {
  WriteKey(w, "messages");
  w.StartArray();
  for (const WireMessage& m : messages) {
    w.StartObject();
    WriteKey(w, "role");
    WriteStr(w, m.role);
    WriteKey(w, "content");
    if (m.plain) {
      WriteStr(w, m.text);
    } else {
      w.StartArray();
      for (const std::string& b : m.blocks) w.RawValue(b.data(), b.size(), rapidjson::kObjectType);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
}

// The client's tools, and the forced tool that emulates JSON mode (named `json_tool`).
void WriteTools(JsonWriter& w, const common::v1::ChatRequest& req, const std::string& json_tool) {
  if (req.tools().empty() && json_tool.empty()) return;
  WriteKey(w, "tools");
  w.StartArray();
  for (const common::v1::Tool& t : req.tools()) {
    w.StartObject();
    WriteKey(w, "name");
    WriteStr(w, t.name());
    WriteKey(w, "description");
    WriteStr(w, t.description());
    WriteKey(w, "input_schema");
    WriteRawJson(w, t.parameters_json(), R"({"type":"object","properties":{}})");
    w.EndObject();
  }
  if (!json_tool.empty()) {
    const common::v1::ResponseFormat& rf = req.response_format();
    w.StartObject();
    WriteKey(w, "name");
    WriteStr(w, json_tool);
    WriteKey(w, "description");
    WriteStr(w, "Answer with a JSON object as this tool's input.");
    WriteKey(w, "input_schema");
    WriteRawJson(w, rf.type() == "json_schema" ? rf.schema_json() : "", R"({"type":"object"})");
    w.EndObject();
  }
  w.EndArray();
  if (!json_tool.empty()) {
    WriteKey(w, "tool_choice");
    w.StartObject();
    WriteKey(w, "type");
    WriteStr(w, "tool");
    WriteKey(w, "name");
    WriteStr(w, json_tool);
    w.EndObject();
  }
}

}  // namespace

absl::StatusOr<AnthropicRequest> BuildAnthropicRequest(const common::v1::ChatRequest& req,
                                                       const std::string& upstream_model) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n", "it returns one choice; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "it does not return log probabilities");

  std::vector<std::string> system;
  std::vector<WireMessage> messages;
  AIM_RETURN_IF_ERROR(ReadMessages(req, system, messages));

  AnthropicRequest out;
  const common::v1::ResponseFormat& rf = req.response_format();
  const bool json_mode = rf.type() == "json_object" || rf.type() == "json_schema";
  if (json_mode && !req.tools().empty()) {
    return Unsupported(kProvider, "response_format",
                       "it is emulated with a forced tool, which cannot be combined with 'tools'");
  }
  if (json_mode) out.json_tool = rf.schema_name().empty() ? "json_response" : rf.schema_name();

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "model");
  WriteStr(w, upstream_model);
  WriteKey(w, "max_tokens");
  w.Int64(req.has_max_tokens() ? req.max_tokens() : kAnthropicDefaultMaxTokens);
  if (!system.empty()) {
    WriteKey(w, "system");
    WriteStr(w, absl::StrJoin(system, "\n\n"));
  }
  WriteMessages(w, messages);
  if (req.has_temperature()) {
    WriteKey(w, "temperature");
    w.Double(std::min(req.temperature(), 1.0));  // Anthropic's range is 0-1; OpenAI's 0-2.
  }
  if (req.has_top_p()) {
    WriteKey(w, "top_p");
    w.Double(req.top_p());
  }
  if (!req.stop().empty()) WriteStringArray(w, "stop_sequences", req.stop());
  WriteTools(w, req, out.json_tool);
  if (!json_mode) AIM_RETURN_IF_ERROR(WriteToolChoice(w, req));
  if (!req.user().empty()) {
    WriteKey(w, "metadata");
    w.StartObject();
    WriteKey(w, "user_id");
    WriteStr(w, req.user());
    w.EndObject();
  }
  if (req.stream()) {
    WriteKey(w, "stream");
    w.Bool(true);
  }
  w.EndObject();
  out.body.assign(buf.GetString(), buf.GetSize());
  return out;
}

}  // namespace aimarket::provider
