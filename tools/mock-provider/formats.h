#pragma once

// Synthetic answers in each provider's wire format, so that tests and benchmarks can run against
// any provider type without a fixture: text of a given size, or — when the request offers tools
// and its conversation holds no tool result yet — a call of the first tool.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace aimarket::mock {

enum class Format { kOpenAi, kAnthropic, kGemini, kCohere, kOllama, kTgiGenerate };

// The format a request path belongs to (OpenAI for anything not recognized).
Format FormatForPath(absl::string_view path);

// Whether the request asks for a stream (Gemini and TGI say it in the path, Ollama by default).
bool StreamRequested(Format format, absl::string_view path, const rapidjson::Document& body);

// The text of the last user turn, in the request's format.
std::string LastUserText(Format format, const rapidjson::Document& body);

struct Synthetic {
  std::vector<std::string> pieces;  // The text, in stream chunks.
  std::string tool_name;            // Non-empty: answer with a call of this tool instead.
  std::string tool_arguments = R"({"arg":"value"})";
  int64_t prompt_tokens = 1;
  int64_t completion_tokens = 0;
  std::string model;
  std::string id;
};

// The first tool the request offers, unless the conversation already holds a tool result ("" then).
std::string ToolToCall(Format format, const rapidjson::Document& body);

struct Rendered {
  std::string content_type;
  std::string body;                 // Not streamed.
  std::vector<std::string> events;  // Streamed: each one write, already framed.
};

Rendered Render(Format format, const Synthetic& s, bool stream, bool include_usage,
                int64_t created);

// Embeddings in the format of the request's path. Only OpenAI's shape has a captured fixture; the
// others are composed from each provider's documented schema (Gemini's batchEmbedContents
// response {"embeddings":[{"values"}]}, Cohere's v2 embed {"embeddings":{"float":[...]},"meta":
// {"billed_units"}}, Ollama's /api/embed {"embeddings","prompt_eval_count"}, the Hugging Face
// feature-extraction pipeline's list of vectors) and not verified against live traffic.
// Paths: OpenAI …/embeddings, Gemini
// …:batchEmbedContents, Cohere …/v2/embed, Ollama …/api/embed, Hugging Face
// …/pipeline/feature-extraction), or false when the path is none of these. Each input gets a vector
// of the requested dimensions (8 by default) derived from its text, so equal texts embed equally.
bool RenderEmbeddings(absl::string_view path, const rapidjson::Document& body,
                      const std::string& model, std::string& out);

}  // namespace aimarket::mock
