#include "tools/mock-provider/formats.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json/json_escape.h"

namespace aimarket::mock {
namespace {

using rapidjson::Value;

const Value* Get(const Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const Value* v) { return v != nullptr && v->IsString() ? v->GetString() : ""; }

// Text of an OpenAI/Anthropic/Cohere-style content: a string, or text parts/blocks.
std::string ContentText(const Value* content) {
  if (content == nullptr) return "";
  if (content->IsString()) return content->GetString();
  std::string out;
  if (content->IsArray()) {
    for (const Value& part : content->GetArray()) out += Str(Get(part, "text"));
  }
  return out;
}

std::string Join(const Synthetic& s) { return absl::StrJoin(s.pieces, ""); }

std::string Sse(absl::string_view data) { return absl::StrCat("data: ", data, "\n\n"); }

std::string NamedSse(absl::string_view name, absl::string_view data) {
  return absl::StrCat("event: ", name, "\ndata: ", data, "\n\n");
}

Rendered OpenAi(const Synthetic& s, bool stream, bool include_usage, int64_t created) {
  const std::string usage = absl::StrCat(
      R"({"prompt_tokens":)", s.prompt_tokens, R"(,"completion_tokens":)", s.completion_tokens,
      R"(,"total_tokens":)", s.prompt_tokens + s.completion_tokens, "}");
  const std::string head = absl::StrCat(
      R"({"id":")", s.id, R"(","object":")", stream ? "chat.completion.chunk" : "chat.completion",
      R"(","created":)", created, R"(,"model":)", json::Quote(s.model));
  const std::string call =
      absl::StrCat(R"({"index":0,"id":"call_mock1","type":"function","function":{"name":)",
                   json::Quote(s.tool_name), R"(,"arguments":)");
  Rendered r;
  if (!stream) {
    r.content_type = "application/json";
    const std::string message =
        s.tool_name.empty()
            ? absl::StrCat(R"({"role":"assistant","content":)", json::Quote(Join(s)), "}")
            : absl::StrCat(R"({"role":"assistant","content":null,"tool_calls":[)", call,
                           json::Quote(s.tool_arguments), "}}]}");
    r.body =
        absl::StrCat(head, R"(,"choices":[{"index":0,"message":)", message, R"(,"finish_reason":")",
                     s.tool_name.empty() ? "stop" : "tool_calls", R"("}],"usage":)", usage, "}");
    return r;
  }
  r.content_type = "text/event-stream";
  auto chunk = [&](absl::string_view delta, absl::string_view finish) {
    return Sse(absl::StrCat(head, R"(,"choices":[{"index":0,"delta":)", delta,
                            R"(,"finish_reason":)",
                            finish.empty() ? "null" : absl::StrCat("\"", finish, "\""), "}]}"));
  };
  if (s.tool_name.empty()) {
    r.events.push_back(chunk(R"({"role":"assistant","content":""})", ""));
    for (const std::string& p : s.pieces)
      r.events.push_back(chunk(absl::StrCat(R"({"content":)", json::Quote(p), "}"), ""));
    r.events.push_back(chunk("{}", "stop"));
  } else {
    r.events.push_back(chunk(
        absl::StrCat(R"({"role":"assistant","content":null,"tool_calls":[)", call, R"(""}}]})"),
        ""));
    r.events.push_back(chunk(absl::StrCat(R"({"tool_calls":[{"index":0,"function":{"arguments":)",
                                          json::Quote(s.tool_arguments), "}}]}"),
                             ""));
    r.events.push_back(chunk("{}", "tool_calls"));
  }
  if (include_usage)
    r.events.push_back(Sse(absl::StrCat(head, R"(,"choices":[],"usage":)", usage, "}")));
  r.events.push_back("data: [DONE]\n\n");
  return r;
}

Rendered Anthropic(const Synthetic& s, bool stream) {
  const bool call = !s.tool_name.empty();
  Rendered r;
  if (!stream) {
    r.content_type = "application/json";
    const std::string content =
        call ? absl::StrCat(R"([{"type":"tool_use","id":"toolu_mock1","name":)",
                            json::Quote(s.tool_name), R"(,"input":)", s.tool_arguments, "}]")
             : absl::StrCat(R"([{"type":"text","text":)", json::Quote(Join(s)), "}]");
    r.body = absl::StrCat(R"({"id":")", s.id, R"(","type":"message","role":"assistant","model":)",
                          json::Quote(s.model), R"(,"content":)", content, R"(,"stop_reason":")",
                          call ? "tool_use" : "end_turn",
                          R"(","stop_sequence":null,"usage":{"input_tokens":)", s.prompt_tokens,
                          R"(,"output_tokens":)", s.completion_tokens, "}}");
    return r;
  }
  r.content_type = "text/event-stream; charset=utf-8";
  r.events.push_back(NamedSse(
      "message_start",
      absl::StrCat(R"({"type":"message_start","message":{"id":")", s.id,
                   R"(","type":"message","role":"assistant","model":)", json::Quote(s.model),
                   R"(,"content":[],"stop_reason":null,"usage":{"input_tokens":)", s.prompt_tokens,
                   R"(,"output_tokens":1}}})")));
  if (call) {
    r.events.push_back(NamedSse(
        "content_block_start",
        absl::StrCat(
            R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_mock1","name":)",
            json::Quote(s.tool_name), R"(,"input":{}}})")));
    r.events.push_back(NamedSse(
        "content_block_delta",
        absl::StrCat(
            R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":)",
            json::Quote(s.tool_arguments), "}}")));
  } else {
    r.events.push_back(NamedSse(
        "content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    r.events.push_back(NamedSse("ping", R"({"type":"ping"})"));
    for (const std::string& p : s.pieces) {
      r.events.push_back(NamedSse(
          "content_block_delta",
          absl::StrCat(
              R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)",
              json::Quote(p), "}}")));
    }
  }
  r.events.push_back(NamedSse("content_block_stop", R"({"type":"content_block_stop","index":0})"));
  r.events.push_back(
      NamedSse("message_delta", absl::StrCat(R"({"type":"message_delta","delta":{"stop_reason":")",
                                             call ? "tool_use" : "end_turn",
                                             R"(","stop_sequence":null},"usage":{"output_tokens":)",
                                             s.completion_tokens, "}}")));
  r.events.push_back(NamedSse("message_stop", R"({"type":"message_stop"})"));
  return r;
}

Rendered Gemini(const Synthetic& s, bool stream) {
  const std::string usage = absl::StrCat(
      R"("usageMetadata":{"promptTokenCount":)", s.prompt_tokens, R"(,"candidatesTokenCount":)",
      s.completion_tokens, R"(,"totalTokenCount":)", s.prompt_tokens + s.completion_tokens, "}");
  auto candidate = [&](absl::string_view parts, bool last) {
    return absl::StrCat(R"({"candidates":[{"content":{"role":"model","parts":)", parts, "}",
                        last ? R"(,"finishReason":"STOP")" : "", R"(,"index":0}],)",
                        last ? usage + "," : "", R"("modelVersion":)", json::Quote(s.model),
                        R"(,"responseId":")", s.id, R"("})");
  };
  const std::string call = absl::StrCat(R"([{"functionCall":{"name":)", json::Quote(s.tool_name),
                                        R"(,"args":)", s.tool_arguments, "}}]");
  Rendered r;
  if (!stream) {
    r.content_type = "application/json";
    r.body = candidate(
        s.tool_name.empty() ? absl::StrCat(R"([{"text":)", json::Quote(Join(s)), "}]") : call,
        true);
    return r;
  }
  r.content_type = "text/event-stream";
  auto event = [](const std::string& json) {
    return absl::StrCat("data: ", json, "\r\n\r\n");
  };  // Gemini's CRLF.
  if (!s.tool_name.empty()) {
    r.events.push_back(event(candidate(call, true)));
    return r;
  }
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    r.events.push_back(event(candidate(absl::StrCat(R"([{"text":)", json::Quote(s.pieces[i]), "}]"),
                                       i + 1 == s.pieces.size())));
  }
  if (s.pieces.empty()) r.events.push_back(event(candidate(R"([{"text":""}])", true)));
  return r;
}

Rendered Cohere(const Synthetic& s, bool stream) {
  const std::string usage =
      absl::StrCat(R"({"billed_units":{"input_tokens":)", s.prompt_tokens, R"(,"output_tokens":)",
                   s.completion_tokens, R"(},"tokens":{"input_tokens":)", s.prompt_tokens,
                   R"(,"output_tokens":)", s.completion_tokens, "}}");
  const bool call = !s.tool_name.empty();
  const std::string call_id = absl::StrCat(s.tool_name, "_mock1");
  Rendered r;
  if (!stream) {
    r.content_type = "application/json";
    const std::string message =
        call
            ? absl::StrCat(
                  R"({"role":"assistant","tool_plan":"I will call the tool.","tool_calls":[{"id":)",
                  json::Quote(call_id), R"(,"type":"function","function":{"name":)",
                  json::Quote(s.tool_name), R"(,"arguments":)", json::Quote(s.tool_arguments),
                  "}}]}")
            : absl::StrCat(R"({"role":"assistant","content":[{"type":"text","text":)",
                           json::Quote(Join(s)), "}]}");
    r.body = absl::StrCat(R"({"id":")", s.id, R"(","message":)", message, R"(,"finish_reason":")",
                          call ? "TOOL_CALL" : "COMPLETE", R"(","usage":)", usage, "}");
    return r;
  }
  r.content_type = "text/event-stream";
  r.events.push_back(
      NamedSse("message-start", absl::StrCat(R"({"type":"message-start","id":")", s.id,
                                             R"(","delta":{"message":{"role":"assistant"}}})")));
  if (call) {
    r.events.push_back(NamedSse(
        "tool-plan-delta",
        R"({"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will call the tool."}}})"));
    r.events.push_back(NamedSse(
        "tool-call-start",
        absl::StrCat(
            R"({"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":)",
            json::Quote(call_id), R"(,"type":"function","function":{"name":)",
            json::Quote(s.tool_name), R"(,"arguments":""}}}}})")));
    r.events.push_back(NamedSse(
        "tool-call-delta",
        absl::StrCat(
            R"({"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":)",
            json::Quote(s.tool_arguments), "}}}}}")));
    r.events.push_back(NamedSse("tool-call-end", R"({"type":"tool-call-end","index":0})"));
  } else {
    r.events.push_back(NamedSse(
        "content-start",
        R"({"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}})"));
    for (const std::string& p : s.pieces) {
      r.events.push_back(NamedSse(
          "content-delta",
          absl::StrCat(
              R"({"type":"content-delta","index":0,"delta":{"message":{"content":{"text":)",
              json::Quote(p), "}}}}")));
    }
    r.events.push_back(NamedSse("content-end", R"({"type":"content-end","index":0})"));
  }
  r.events.push_back(NamedSse(
      "message-end", absl::StrCat(R"({"type":"message-end","delta":{"finish_reason":")",
                                  call ? "TOOL_CALL" : "COMPLETE", R"(","usage":)", usage, "}}")));
  r.events.push_back("data: [DONE]\n\n");
  return r;
}

Rendered Ollama(const Synthetic& s, bool stream) {
  const std::string head = absl::StrCat(R"({"model":)", json::Quote(s.model),
                                        R"(,"created_at":"2025-01-01T00:00:00Z",)");
  const std::string calls =
      absl::StrCat(R"(,"tool_calls":[{"id":"call_mock1","function":{"index":0,"name":)",
                   json::Quote(s.tool_name), R"(,"arguments":)", s.tool_arguments, "}}]");
  const std::string done =
      absl::StrCat(R"("done":true,"done_reason":"stop","prompt_eval_count":)", s.prompt_tokens,
                   R"(,"eval_count":)", s.completion_tokens, "}");
  Rendered r;
  if (!stream) {
    r.content_type = "application/json; charset=utf-8";
    r.body = absl::StrCat(head, R"("message":{"role":"assistant","content":)",
                          json::Quote(s.tool_name.empty() ? Join(s) : ""),
                          s.tool_name.empty() ? "" : calls, "},", done);
    return r;
  }
  r.content_type = "application/x-ndjson";
  if (!s.tool_name.empty()) {
    r.events.push_back(absl::StrCat(head, R"("message":{"role":"assistant","content":"")", calls,
                                    R"(},"done":false})", "\n"));
  } else {
    for (const std::string& p : s.pieces) {
      r.events.push_back(absl::StrCat(head, R"("message":{"role":"assistant","content":)",
                                      json::Quote(p), R"(},"done":false})", "\n"));
    }
  }
  r.events.push_back(
      absl::StrCat(head, R"("message":{"role":"assistant","content":""},)", done, "\n"));
  return r;
}

Rendered TgiGenerate(const Synthetic& s, bool stream) {
  Rendered r;
  if (!stream) {
    r.content_type = "application/json";
    std::string prefill;  // One entry per prompt token, as TGI sends with decoder_input_details.
    for (int64_t i = 0; i < s.prompt_tokens; ++i) {
      absl::StrAppend(&prefill, i == 0 ? "" : ",", R"({"id":)", i + 1,
                      R"(,"text":"p","logprob":null})");
    }
    r.body = absl::StrCat(R"({"generated_text":)", json::Quote(Join(s)),
                          R"(,"details":{"finish_reason":"eos_token","generated_tokens":)",
                          s.completion_tokens, R"(,"seed":null,"prefill":[)", prefill,
                          R"(],"tokens":[]}})");
    return r;
  }
  r.content_type = "text/event-stream";
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    const bool last = i + 1 == s.pieces.size();
    r.events.push_back(absl::StrCat(
        "data:", R"({"index":)", i + 1, R"(,"token":{"id":)", i + 1, R"(,"text":)",
        json::Quote(s.pieces[i]), R"(,"logprob":-0.1,"special":false},"generated_text":)",
        last ? json::Quote(Join(s)) : "null", R"(,"details":)",
        last ? absl::StrCat(R"({"finish_reason":"eos_token","generated_tokens":)",
                            s.completion_tokens, R"(,"seed":null,"input_length":)", s.prompt_tokens,
                            "}")
             : "null",
        "}\n\n"));
  }
  return r;
}

}  // namespace

Format FormatForPath(absl::string_view path) {
  if (absl::EndsWith(path, "/v1/messages")) return Format::kAnthropic;
  if (absl::StrContains(path, ":generateContent") ||
      absl::StrContains(path, ":streamGenerateContent"))
    return Format::kGemini;
  if (absl::EndsWith(path, "/v2/chat")) return Format::kCohere;
  if (absl::EndsWith(path, "/api/chat")) return Format::kOllama;
  if (absl::EndsWith(path, "/generate") || absl::EndsWith(path, "/generate_stream"))
    return Format::kTgiGenerate;
  return Format::kOpenAi;
}

bool StreamRequested(Format format, absl::string_view path, const rapidjson::Document& body) {
  if (format == Format::kGemini) return absl::StrContains(path, ":streamGenerateContent");
  if (format == Format::kTgiGenerate) return absl::EndsWith(path, "/generate_stream");
  const Value* s = Get(body, "stream");
  if (s == nullptr || !s->IsBool()) return format == Format::kOllama;  // Ollama streams by default.
  return s->GetBool();
}

std::string LastUserText(Format format, const rapidjson::Document& body) {
  if (format == Format::kTgiGenerate) return Str(Get(body, "inputs"));
  if (format == Format::kGemini) {
    const Value* contents = Get(body, "contents");
    if (contents == nullptr || !contents->IsArray()) return "";
    std::string last;
    for (const Value& c : contents->GetArray()) {
      if (Str(Get(c, "role")) != "user") continue;
      last = ContentText(Get(c, "parts"));
    }
    return last;
  }
  const Value* messages = Get(body, "messages");
  if (messages == nullptr || !messages->IsArray()) return "";
  std::string last;
  for (const Value& m : messages->GetArray()) {
    if (Str(Get(m, "role")) == "user") last = ContentText(Get(m, "content"));
  }
  return last;
}

std::string ToolToCall(Format format, const rapidjson::Document& body) {
  const Value* tools = Get(body, "tools");
  if (tools == nullptr || !tools->IsArray() || tools->Empty()) return "";
  const Value& first = (*tools)[0];
  std::string name;
  bool answered = false;  // A tool result anywhere in the conversation: the tool was called.
  switch (format) {
    case Format::kAnthropic: {
      name = Str(Get(first, "name"));
      const Value* messages = Get(body, "messages");
      if (messages != nullptr && messages->IsArray()) {
        for (const Value& m : messages->GetArray()) {
          const Value* content = Get(m, "content");
          if (content == nullptr || !content->IsArray()) continue;
          for (const Value& b : content->GetArray())
            answered |= Str(Get(b, "type")) == "tool_result";
        }
      }
      break;
    }
    case Format::kGemini: {
      const Value* decls = Get(first, "functionDeclarations");
      if (decls != nullptr && decls->IsArray() && !decls->Empty())
        name = Str(Get((*decls)[0], "name"));
      const Value* contents = Get(body, "contents");
      if (contents != nullptr && contents->IsArray()) {
        for (const Value& c : contents->GetArray()) {
          const Value* parts = Get(c, "parts");
          if (parts == nullptr || !parts->IsArray()) continue;
          for (const Value& p : parts->GetArray())
            answered |= Get(p, "functionResponse") != nullptr;
        }
      }
      break;
    }
    case Format::kTgiGenerate:
      return "";
    default: {
      const Value* fn = Get(first, "function");
      name = Str(fn != nullptr ? Get(*fn, "name") : nullptr);
      const Value* messages = Get(body, "messages");
      if (messages != nullptr && messages->IsArray()) {
        for (const Value& m : messages->GetArray()) answered |= Str(Get(m, "role")) == "tool";
      }
    }
  }
  return answered ? "" : name;
}

namespace {

std::vector<float> VectorFor(absl::string_view text, int dims) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the text seeds the values.
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  std::vector<float> v(dims);
  for (int j = 0; j < dims; ++j) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    v[j] = static_cast<float>(static_cast<int>((h >> 33) % 2001) - 1000) / 1000.0f;
  }
  return v;
}

std::string VectorJson(const std::vector<float>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i == 0 ? "" : ",", v[i]);
  return out + "]";
}

std::vector<std::string> Texts(const Value* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (v->IsString()) out.push_back(v->GetString());
  if (v->IsArray()) {
    for (const Value& s : v->GetArray()) out.push_back(s.IsString() ? s.GetString() : "tokens");
  }
  return out;
}

int Dims(const Value* v) { return v != nullptr && v->IsInt() && v->GetInt() > 0 ? v->GetInt() : 8; }

}  // namespace

bool RenderEmbeddings(absl::string_view path, const rapidjson::Document& body,
                      const std::string& model, std::string& out) {
  std::vector<std::string> texts;
  int dims = 8;
  enum { kOpenAi, kGemini, kCohere, kOllama, kHf } kind;
  if (absl::EndsWith(path, "/embeddings")) {
    kind = kOpenAi;
    texts = Texts(Get(body, "input"));
    dims = Dims(Get(body, "dimensions"));
  } else if (absl::StrContains(path, ":batchEmbedContents")) {
    kind = kGemini;
    const Value* requests = Get(body, "requests");
    if (requests != nullptr && requests->IsArray()) {
      for (const Value& r : requests->GetArray()) {
        const Value* content = Get(r, "content");
        texts.push_back(ContentText(content != nullptr ? Get(*content, "parts") : nullptr));
        dims = Dims(Get(r, "outputDimensionality"));
      }
    }
  } else if (absl::EndsWith(path, "/v2/embed")) {
    kind = kCohere;
    texts = Texts(Get(body, "texts"));
    dims = Dims(Get(body, "output_dimension"));
  } else if (absl::EndsWith(path, "/api/embed")) {
    kind = kOllama;
    texts = Texts(Get(body, "input"));
    dims = Dims(Get(body, "dimensions"));
  } else if (absl::EndsWith(path, "/pipeline/feature-extraction")) {
    kind = kHf;
    texts = Texts(Get(body, "inputs"));
  } else {
    return false;
  }
  int64_t tokens = 0;
  std::vector<std::string> vectors;
  for (const std::string& t : texts) {
    tokens += static_cast<int64_t>(1 + t.size() / 4);
    vectors.push_back(VectorJson(VectorFor(t, dims)));
  }
  switch (kind) {
    case kOpenAi: {
      out = R"({"object":"list","data":[)";
      for (size_t i = 0; i < vectors.size(); ++i) {
        absl::StrAppend(&out, i == 0 ? "" : ",", R"({"object":"embedding","index":)", i,
                        R"(,"embedding":)", vectors[i], "}");
      }
      absl::StrAppend(&out, R"(],"model":)", json::Quote(model), R"(,"usage":{"prompt_tokens":)",
                      tokens, R"(,"total_tokens":)", tokens, "}}");
      break;
    }
    case kGemini: {
      out = R"({"embeddings":[)";
      for (size_t i = 0; i < vectors.size(); ++i)
        absl::StrAppend(&out, i == 0 ? "" : ",", R"({"values":)", vectors[i], "}");
      out += "]}";
      break;
    }
    case kCohere:
      absl::StrAppend(&out, R"({"id":"mock-embed","embeddings":{"float":[)",
                      absl::StrJoin(vectors, ","),
                      R"(]},"texts":[],"meta":{"billed_units":{"input_tokens":)", tokens, "}}}");
      break;
    case kOllama:
      absl::StrAppend(&out, R"({"model":)", json::Quote(model), R"(,"embeddings":[)",
                      absl::StrJoin(vectors, ","), R"(],"prompt_eval_count":)", tokens, "}");
      break;
    case kHf:
      absl::StrAppend(&out, "[", absl::StrJoin(vectors, ","), "]");
      break;
  }
  return true;
}

Rendered Render(Format format, const Synthetic& s, bool stream, bool include_usage,
                int64_t created) {
  switch (format) {
    case Format::kAnthropic:
      return Anthropic(s, stream);
    case Format::kGemini:
      return Gemini(s, stream);
    case Format::kCohere:
      return Cohere(s, stream);
    case Format::kOllama:
      return Ollama(s, stream);
    case Format::kTgiGenerate:
      return TgiGenerate(s, stream);
    case Format::kOpenAi:
      break;
  }
  return OpenAi(s, stream, include_usage, created);
}

}  // namespace aimarket::mock
