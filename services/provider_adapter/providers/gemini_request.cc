#include "services/provider_adapter/providers/gemini_request.h"

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/gemini_schema.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {
namespace {

constexpr absl::string_view kProvider = "gemini";

using rapidjson::Document;
using rapidjson::Value;

struct Turn {
  std::string role;  // user | model
  std::vector<std::string> parts;
};

std::string TextPart(absl::string_view text) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "text");
  WriteStr(w, text);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<std::string> ImagePart(const common::v1::ImageUrl& image, const std::string& param) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  if (std::optional<DataUrl> data = ParseDataUrl(image.url()); data.has_value()) {
    WriteKey(w, "inlineData");
    w.StartObject();
    WriteKey(w, "mimeType");
    WriteStr(w, data->mime_type);
    WriteKey(w, "data");
    WriteStr(w, data->base64);
    w.EndObject();
  } else if (absl::StartsWith(image.url(), "https://") ||
             absl::StartsWith(image.url(), "http://")) {
    // Gemini reads a fileData URI itself; the MIME type is guessed from the extension.
    std::string mime = "image/jpeg";
    const std::string lower = absl::AsciiStrToLower(image.url());
    if (absl::StrContains(lower, ".png"))
      mime = "image/png";
    else if (absl::StrContains(lower, ".webp"))
      mime = "image/webp";
    else if (absl::StrContains(lower, ".gif"))
      mime = "image/gif";
    WriteKey(w, "fileData");
    w.StartObject();
    WriteKey(w, "mimeType");
    WriteStr(w, mime);
    WriteKey(w, "fileUri");
    WriteStr(w, image.url());
    w.EndObject();
  } else {
    return InvalidImageUrl(param);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void Push(std::vector<Turn>& turns, Turn t) {
  if (!turns.empty() && turns.back().role == t.role) {
    for (std::string& p : t.parts) turns.back().parts.push_back(std::move(p));
    return;
  }
  turns.push_back(std::move(t));
}

absl::Status WriteToolConfig(JsonWriter& w, const common::v1::ChatRequest& req) {
  if (req.tool_choice_json().empty()) return absl::OkStatus();
  Document d;
  (void)json::ParseBounded(d, req.tool_choice_json());
  std::string mode;
  std::string only;
  if (d.IsString()) {
    const std::string c = d.GetString();
    if (c == "auto")
      mode = "AUTO";
    else if (c == "none")
      mode = "NONE";
    else if (c == "required")
      mode = "ANY";
  } else if (const Value* fn = Member(d, "function");
             fn != nullptr && Member(*fn, "name") != nullptr) {
    mode = "ANY";
    only = StringOr(*fn, "name");
  }
  if (mode.empty()) {
    return status::Error(
               absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
               "Invalid value for 'tool_choice': expected none, auto, required or a function.")
        .Param("tool_choice");
  }
  WriteKey(w, "toolConfig");
  w.StartObject();
  WriteKey(w, "functionCallingConfig");
  w.StartObject();
  WriteKey(w, "mode");
  WriteStr(w, mode);
  if (!only.empty()) {
    WriteKey(w, "allowedFunctionNames");
    w.StartArray();
    WriteStr(w, only);
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return absl::OkStatus();
}

// A tool result as a functionResponse part, named by the call it answers (Gemini names results by
// function, not by id). A result that is not a JSON object is wrapped as {"result": ...}.
std::string FunctionResponsePart(const common::v1::ChatMessage& m, const std::string& name) {
  const std::string text = MessageText(m, "\n");
  Document result;
  const bool parsed = json::ParseBounded(result, text);
  const bool object = parsed && result.IsObject();
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "functionResponse");
  w.StartObject();
  WriteKey(w, "name");
  WriteStr(w, name);
  WriteKey(w, "response");
  if (object) {
    result.Accept(w);
  } else {
    w.StartObject();
    WriteKey(w, "result");
    if (parsed) {
      result.Accept(w);
    } else {
      WriteStr(w, text);
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// A function call, with the thought signature Gemini gave the turn when it is the turn's first
// call (docs/providers.md, "Reasoning").
absl::StatusOr<std::string> FunctionCallPart(const common::v1::ToolCall& c,
                                             const std::string& param,
                                             absl::string_view thought_signature) {
  AIM_ASSIGN_OR_RETURN(std::string args,
                       ArgumentsObject(c.arguments(), param + ".function.arguments"));
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "functionCall");
  w.StartObject();
  WriteKey(w, "name");
  WriteStr(w, c.name());
  WriteKey(w, "args");
  WriteRawJson(w, args);
  w.EndObject();
  if (!thought_signature.empty()) {
    WriteKey(w, "thoughtSignature");
    WriteStr(w, thought_signature);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// A user or assistant message as a turn: its text and images, then its function calls.
absl::Status ContentTurn(const common::v1::ChatMessage& m, const std::string& param, Turn& t) {
  t.role = m.role() == "assistant" ? "model" : "user";
  if (m.parts().empty()) {
    if (!m.content().empty()) t.parts.push_back(TextPart(m.content()));
  } else {
    int j = 0;
    for (const common::v1::ContentPart& p : m.parts()) {
      const std::string pp = absl::StrCat(param, ".content[", j++, "]");
      if (p.has_text()) {
        t.parts.push_back(TextPart(p.text()));
      } else if (p.has_image_url()) {
        AIM_ASSIGN_OR_RETURN(std::string part, ImagePart(p.image_url(), pp + ".image_url.url"));
        t.parts.push_back(std::move(part));
      }
    }
  }
  int j = 0;
  for (const common::v1::ToolCall& c : m.tool_calls()) {
    const absl::string_view signature = j == 0 ? absl::string_view(m.reasoning_signature()) : "";
    AIM_ASSIGN_OR_RETURN(
        std::string part,
        FunctionCallPart(c, absl::StrCat(param, ".tool_calls[", j++, "]"), signature));
    t.parts.push_back(std::move(part));
  }
  return absl::OkStatus();
}

void WriteSystemInstruction(JsonWriter& w, const std::vector<std::string>& system) {
  if (system.empty()) return;
  WriteKey(w, "systemInstruction");
  w.StartObject();
  WriteKey(w, "parts");
  w.StartArray();
  w.StartObject();
  WriteKey(w, "text");
  WriteStr(w, absl::StrJoin(system, "\n\n"));
  w.EndObject();
  w.EndArray();
  w.EndObject();
}

void WriteContents(JsonWriter& w, const std::vector<Turn>& turns) {
  WriteKey(w, "contents");
  w.StartArray();
  for (const Turn& t : turns) {
    w.StartObject();
    WriteKey(w, "role");
    WriteStr(w, t.role);
    WriteKey(w, "parts");
    w.StartArray();
    for (const std::string& p : t.parts) w.RawValue(p.data(), p.size(), rapidjson::kObjectType);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

// tools → one functionDeclarations list, each function's parameters reduced (gemini_schema.h).
absl::Status WriteTools(JsonWriter& w, const common::v1::ChatRequest& req) {
  if (req.tools().empty()) return absl::OkStatus();
  WriteKey(w, "tools");
  w.StartArray();
  w.StartObject();
  WriteKey(w, "functionDeclarations");
  w.StartArray();
  for (int i = 0; i < req.tools_size(); ++i) {
    const common::v1::Tool& t = req.tools(i);
    w.StartObject();
    WriteKey(w, "name");
    WriteStr(w, t.name());
    if (!t.description().empty()) {
      WriteKey(w, "description");
      WriteStr(w, t.description());
    }
    if (!t.parameters_json().empty()) {
      WriteKey(w, "parameters");
      AIM_ASSIGN_OR_RETURN(
          const std::string reduced,
          ReduceSchemaForGemini(t.parameters_json(),
                                absl::StrCat("tools[", i, "].function.parameters")));
      WriteRawJson(w, reduced);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();
  return absl::OkStatus();
}

// Sampling, the output limit and JSON mode → generationConfig (left out when nothing is set).
// reasoning_effort as Gemini 2.5's thinkingConfig: a thinking budget in tokens, and the thought
// summaries asked for so that they reach the client as reasoning_content. "none" is budget 0
// (which 2.5 Pro, unable to turn thinking off, refuses with its own 400).
void WriteThinkingConfig(JsonWriter& w, absl::string_view effort) {
  if (effort.empty()) return;
  int budget = 0;
  if (effort == "minimal") budget = 512;
  if (effort == "low") budget = 1024;
  if (effort == "medium") budget = 8192;
  if (effort == "high") budget = 24576;
  WriteKey(w, "thinkingConfig");
  w.StartObject();
  WriteKey(w, "thinkingBudget");
  w.Int(budget);
  if (budget > 0) {
    WriteKey(w, "includeThoughts");
    w.Bool(true);
  }
  w.EndObject();
}

absl::Status WriteGenerationConfig(JsonWriter& w, const common::v1::ChatRequest& req) {
  const common::v1::ResponseFormat& rf = req.response_format();
  const bool json = rf.type() == "json_object" || rf.type() == "json_schema";
  const bool config = req.has_temperature() || req.has_top_p() || req.has_max_tokens() ||
                      !req.stop().empty() || req.n() > 0 || req.has_seed() ||
                      req.has_presence_penalty() || req.has_frequency_penalty() || json ||
                      !req.reasoning_effort().empty();
  if (!config) return absl::OkStatus();
  WriteKey(w, "generationConfig");
  w.StartObject();
  if (req.has_temperature()) {
    WriteKey(w, "temperature");
    w.Double(req.temperature());
  }
  if (req.has_top_p()) {
    WriteKey(w, "topP");
    w.Double(req.top_p());
  }
  if (req.has_max_tokens()) {
    WriteKey(w, "maxOutputTokens");
    w.Int64(req.max_tokens());
  }
  if (!req.stop().empty()) WriteStringArray(w, "stopSequences", req.stop());
  if (req.n() > 0) {
    WriteKey(w, "candidateCount");
    w.Int(req.n());
  }
  if (req.has_seed()) {
    WriteKey(w, "seed");
    w.Int64(req.seed());
  }
  if (req.has_presence_penalty()) {
    WriteKey(w, "presencePenalty");
    w.Double(req.presence_penalty());
  }
  if (req.has_frequency_penalty()) {
    WriteKey(w, "frequencyPenalty");
    w.Double(req.frequency_penalty());
  }
  WriteThinkingConfig(w, req.reasoning_effort());
  if (json) {
    WriteKey(w, "responseMimeType");
    WriteStr(w, "application/json");
    if (rf.type() == "json_schema" && !rf.schema_json().empty()) {
      WriteKey(w, "responseSchema");
      AIM_ASSIGN_OR_RETURN(
          const std::string reduced,
          ReduceSchemaForGemini(rf.schema_json(), "response_format.json_schema.schema"));
      WriteRawJson(w, reduced);
    }
  }
  w.EndObject();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> BuildGeminiBody(const common::v1::ChatRequest& req) {
  if (req.n() > 1)
    return Unsupported(kProvider, "n",
                       "aimarket asks it for one candidate; send n = 1 or leave it out");
  if (req.logprobs())
    return Unsupported(kProvider, "logprobs", "its log probabilities are not translated");
  if (req.stop_size() > 5)
    return Unsupported(kProvider, "stop", "it takes at most 5 stop sequences");

  const std::map<std::string, std::string> names = ToolNamesById(req);
  std::vector<std::string> system;
  std::vector<Turn> turns;
  int i = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    const std::string param = absl::StrCat("messages[", i++, "]");
    if (m.role() == "system" || m.role() == "developer") {
      system.push_back(MessageText(m, "\n"));
      continue;
    }
    Turn t;
    if (m.role() == "tool" || m.role() == "function") {
      auto name = names.find(m.tool_call_id());
      if (name == names.end()) {
        return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                             absl::StrCat("Invalid value for '", param,
                                          ".tool_call_id': no earlier assistant message "
                                          "has a tool call with the id '",
                                          m.tool_call_id(),
                                          "' (Gemini names a tool result by its function)."))
            .Param(param + ".tool_call_id");
      }
      t.role = "user";
      t.parts.push_back(FunctionResponsePart(m, name->second));
    } else {
      AIM_RETURN_IF_ERROR(ContentTurn(m, param, t));
      if (t.parts.empty()) continue;
    }
    Push(turns, std::move(t));
  }

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteSystemInstruction(w, system);
  WriteContents(w, turns);
  AIM_RETURN_IF_ERROR(WriteTools(w, req));
  AIM_RETURN_IF_ERROR(WriteToolConfig(w, req));
  AIM_RETURN_IF_ERROR(WriteGenerationConfig(w, req));
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace aimarket::provider
