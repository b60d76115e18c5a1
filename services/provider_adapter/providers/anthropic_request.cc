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

// `block` (a JSON object we wrote) with Anthropic's cache breakpoint added.
std::string WithCacheControl(std::string block, const common::v1::CacheControl& cc) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, cc.type().empty() ? "ephemeral" : cc.type());
  if (!cc.ttl().empty()) {
    WriteKey(w, "ttl");
    WriteStr(w, cc.ttl());
  }
  w.EndObject();
  block.pop_back();  // The closing brace.
  absl::StrAppend(&block, ",\"cache_control\":", absl::string_view(buf.GetString(), buf.GetSize()),
                  "}");
  return block;
}

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
    std::string block;
    if (p.has_text()) {
      block = TextBlock(p.text());
    } else if (p.has_image_url()) {
      AIM_ASSIGN_OR_RETURN(block, ImageBlock(p.image_url(), pp + ".image_url.url"));
    } else {
      continue;
    }
    if (p.has_cache_control()) block = WithCacheControl(std::move(block), p.cache_control());
    out.blocks.push_back(std::move(block));
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

// OpenAI's tool_choice as Anthropic's: its type (auto, any, none, tool) and the tool's name.
struct ToolChoice {
  std::string type = "auto";
  std::string name;
};

absl::StatusOr<ToolChoice> ReadToolChoice(const common::v1::ChatRequest& req) {
  ToolChoice choice;
  if (req.tool_choice_json().empty()) return choice;
  Document d;
  (void)json::ParseBounded(d, req.tool_choice_json());
  const absl::string_view mode = d.IsString() ? json::View(d) : "";
  if (mode == "required") {
    choice.type = "any";
  } else if (mode == "none" || mode == "auto") {
    choice.type = std::string(mode);
  } else if (const Value* fn = Member(d, "function");
             !d.IsString() && fn != nullptr && Member(*fn, "name") != nullptr) {
    choice.type = "tool";
    choice.name = StringOr(*fn, "name");
  } else {
    return status::Error(
               absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
               "Invalid value for 'tool_choice': expected none, auto, required or a function.")
        .Param("tool_choice");
  }
  return choice;
}

void WriteToolChoice(JsonWriter& w, const common::v1::ChatRequest& req, const ToolChoice& choice) {
  const bool no_parallel = req.has_parallel_tool_calls() && !req.parallel_tool_calls();
  if (req.tool_choice_json().empty() && !no_parallel) return;
  const std::string& type = choice.type;
  const std::string& name = choice.name;
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

std::string ThinkingBlock(const common::v1::ChatMessage& m) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "type");
  WriteStr(w, "thinking");
  WriteKey(w, "thinking");
  WriteStr(w, m.reasoning_content());
  WriteKey(w, "signature");
  WriteStr(w, m.reasoning_signature());
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// The thinking budget for reasoning_effort within the request's max_tokens (which counts the
// thinking too), or 0 for none: Anthropic's minimum is 1024 tokens.
int64_t ThinkingBudget(const common::v1::ChatRequest& req) {
  const absl::string_view effort = req.reasoning_effort();
  int64_t budget = 0;
  if (effort == "minimal") budget = 1024;
  if (effort == "low") budget = 2048;
  if (effort == "medium") budget = 8192;
  if (effort == "high") budget = 16384;
  if (budget > 0 && req.has_max_tokens()) budget = std::min(budget, req.max_tokens() - 1);
  return budget >= 1024 ? budget : 0;
}

// Whether the conversation is in a tool turn whose assistant message lost its signed thinking
// (a client that did not echo reasoning_signature): Anthropic refuses thinking there, so the
// request goes without it.
bool ToolTurnLacksSignature(const common::v1::ChatRequest& req) {
  for (int i = req.messages_size() - 1; i >= 0; --i) {
    const common::v1::ChatMessage& m = req.messages(i);
    if (m.role() == "assistant") return !m.tool_calls().empty() && m.reasoning_signature().empty();
  }
  return false;
}

// Whether `m` is a system message with a cache breakpoint on it or on one of its parts.
bool SystemCacheControl(const common::v1::ChatMessage& m) {
  if (m.role() != "system" && m.role() != "developer") return false;
  return m.has_cache_control() ||
         std::any_of(m.parts().begin(), m.parts().end(),
                     [](const common::v1::ContentPart& p) { return p.has_cache_control(); });
}

// The conversation: system and developer messages into `system` (as text blocks), the rest as
// alternating user and assistant messages; with `thinking`, an assistant message's echoed signed
// reasoning leads its content.
absl::Status ReadMessages(const common::v1::ChatRequest& req, bool thinking,
                          std::vector<std::string>& system, std::vector<WireMessage>& messages) {
  int i = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    const std::string param = absl::StrCat("messages[", i++, "]");
    const std::string& role = m.role();
    if (role == "system" || role == "developer") {
      // As text blocks: a cache breakpoint (on the message or a part) stays where it was put.
      if (m.parts().empty()) {
        if (m.content().empty()) continue;  // Anthropic refuses empty text blocks.
        std::string block = TextBlock(m.content());
        if (m.has_cache_control()) block = WithCacheControl(std::move(block), m.cache_control());
        system.push_back(std::move(block));
        continue;
      }
      for (int j = 0; j < m.parts_size(); ++j) {
        const common::v1::ContentPart& p = m.parts(j);
        if (!p.has_text() || p.text().empty()) continue;
        std::string block = TextBlock(p.text());
        if (p.has_cache_control()) {
          block = WithCacheControl(std::move(block), p.cache_control());
        } else if (m.has_cache_control() && j == m.parts_size() - 1) {
          block = WithCacheControl(std::move(block), m.cache_control());
        }
        system.push_back(std::move(block));
      }
      continue;
    }
    WireMessage wm;
    if (role == "tool" || role == "function") {
      wm.role = "user";
      wm.blocks.push_back(ToolResultBlock(m));
    } else {
      wm.role = role == "assistant" ? "assistant" : "user";
      const bool signed_thinking =
          thinking && wm.role == "assistant" && !m.reasoning_signature().empty();
      if (signed_thinking) wm.blocks.push_back(ThinkingBlock(m));
      const bool only_text = m.parts().empty() && m.tool_calls().empty() && !signed_thinking;
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
    // A breakpoint on the whole message goes on its last block (unless that part has its own).
    const bool last_part_cached = !m.parts().empty() && m.tool_calls().empty() &&
                                  m.parts(m.parts_size() - 1).has_cache_control();
    if (m.has_cache_control() && !last_part_cached) {
      if (wm.plain) {
        wm.blocks.push_back(TextBlock(wm.text));
        wm.plain = false;
      }
      if (!wm.blocks.empty()) {
        wm.blocks.back() = WithCacheControl(std::move(wm.blocks.back()), m.cache_control());
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
    if (t.has_cache_control()) {
      WriteKey(w, "cache_control");
      w.StartObject();
      WriteKey(w, "type");
      WriteStr(w, "ephemeral");
      if (!t.cache_control().ttl().empty()) {
        WriteKey(w, "ttl");
        WriteStr(w, t.cache_control().ttl());
      }
      w.EndObject();
    }
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

// Extended thinking refuses sampling changes and forced tool use: a 400 naming the field, rather
// than a silent drop of either the field or the reasoning asked for.
absl::Status CheckThinkingCompatible(const common::v1::ChatRequest& req, bool json_mode,
                                     const absl::StatusOr<ToolChoice>& choice) {
  constexpr absl::string_view kWhy = "with reasoning_effort, Anthropic's extended thinking ";
  if (req.has_temperature() && req.temperature() != 1.0) {
    return Unsupported(kProvider, "temperature",
                       absl::StrCat(kWhy, "needs temperature 1 (or leave it out)"));
  }
  if (req.has_top_p() && req.top_p() < 0.95) {
    return Unsupported(kProvider, "top_p",
                       absl::StrCat(kWhy, "takes top_p from 0.95 to 1 (or leave it out)"));
  }
  if (json_mode) {
    return Unsupported(kProvider, "response_format",
                       absl::StrCat(kWhy,
                                    "cannot be combined with the forced tool that emulates "
                                    "JSON mode"));
  }
  // An invalid tool_choice is refused as such where it is written.
  if (choice.ok() && choice->type != "auto" && choice->type != "none") {
    return Unsupported(kProvider, "tool_choice",
                       absl::StrCat(kWhy, "takes tool_choice auto or none only"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AnthropicRequest> BuildAnthropicRequest(const common::v1::ChatRequest& req,
                                                       const std::string& upstream_model) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n", "it returns one choice; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "it does not return log probabilities");

  AnthropicRequest out;
  const common::v1::ResponseFormat& rf = req.response_format();
  const bool json_mode = rf.type() == "json_object" || rf.type() == "json_schema";
  const int64_t budget = ToolTurnLacksSignature(req) ? 0 : ThinkingBudget(req);
  const absl::StatusOr<ToolChoice> choice = ReadToolChoice(req);
  if (budget > 0) AIM_RETURN_IF_ERROR(CheckThinkingCompatible(req, json_mode, choice));

  std::vector<std::string> system;
  std::vector<WireMessage> messages;
  AIM_RETURN_IF_ERROR(ReadMessages(req, budget > 0, system, messages));

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
  w.Int64(req.has_max_tokens() ? req.max_tokens() : kAnthropicDefaultMaxTokens + budget);
  if (budget > 0) {
    WriteKey(w, "thinking");
    w.StartObject();
    WriteKey(w, "type");
    WriteStr(w, "enabled");
    WriteKey(w, "budget_tokens");
    w.Int64(budget);
    w.EndObject();
  }
  if (!system.empty()) {
    // One string, as it always was, unless a cache breakpoint needs the blocks.
    WriteKey(w, "system");
    if (std::any_of(req.messages().begin(), req.messages().end(), SystemCacheControl)) {
      w.StartArray();
      for (const std::string& b : system) w.RawValue(b.data(), b.size(), rapidjson::kObjectType);
      w.EndArray();
    } else {
      std::vector<std::string> texts;
      for (const common::v1::ChatMessage& m : req.messages()) {
        if (m.role() == "system" || m.role() == "developer") texts.push_back(MessageText(m, "\n"));
      }
      WriteStr(w, absl::StrJoin(texts, "\n\n"));
    }
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
  if (!json_mode) {
    AIM_RETURN_IF_ERROR(choice.status());
    WriteToolChoice(w, req, *choice);
  }
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
