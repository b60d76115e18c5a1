// mock-provider: a fast mock LLM upstream. See README.md beside this file.

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/json/json_escape.h"
#include "common/json/parse.h"
#include "common/log/log.h"
#include "common/process/process.h"
#include "rapidjson/document.h"
#include "services/edge/http_server.h"
#include "tools/mock-provider/formats.h"

namespace aimarket::mock {
namespace {

using edge::HttpRequest;
using edge::HttpResponse;
using edge::ResponseWriter;

struct Fixture {
  std::string provider;
  std::string name;
  std::string method;
  std::string path;
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool streamed = false;
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads every <dir>/<provider>/manifest.json.
std::vector<Fixture> LoadFixtures(const std::string& dir) {
  std::vector<Fixture> out;
  if (dir.empty() || !std::filesystem::exists(dir)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto manifest_path = entry.path() / "manifest.json";
    if (!std::filesystem::exists(manifest_path)) continue;
    rapidjson::Document doc;
    const std::string text = ReadFile(manifest_path);
    if (!json::ParseBounded(doc, text) || !doc.IsObject() || !doc.HasMember("fixtures")) continue;
    const std::string provider = entry.path().filename().string();
    for (const auto& f : doc["fixtures"].GetArray()) {
      if (!f.HasMember("name") || !f.HasMember("response")) continue;
      Fixture fx;
      fx.provider = provider;
      fx.name = f["name"].GetString();
      fx.method = f.HasMember("method") ? f["method"].GetString() : "POST";
      fx.path = f.HasMember("path") ? f["path"].GetString() : "";
      fx.status = f.HasMember("status") ? f["status"].GetInt() : 200;
      fx.content_type =
          f.HasMember("content_type") ? f["content_type"].GetString() : "application/json";
      if (f.HasMember("headers") && f["headers"].IsObject()) {
        for (const auto& h : f["headers"].GetObject())
          fx.headers.emplace_back(h.name.GetString(), h.value.GetString());
      }
      const std::string response = f["response"].GetString();
      fx.body = ReadFile(entry.path() / response);
      fx.streamed = absl::EndsWith(response, ".sse") || absl::EndsWith(response, ".ndjson");
      out.push_back(std::move(fx));
    }
  }
  return out;
}

struct Options {
  int tokens = 8;
  int chunks = 0;
  int delay_ms = 0;
  int status = 200;
  std::string retry_after;
  int fail_after = -1;
  int chunk_bytes = 61;
  bool echo = false;
  // An error's message quotes the request's credentials (as some providers' "Incorrect API key
  // provided: ..." do): set from the Authorization header when `quote_key=1`.
  std::string quoted_key;
  bool quote_key = false;
  // Streams: a firehose of about this many bytes of content, made as it is taken (Firehose).
  int64_t bytes = 0;
  // The prompt tokens the usage reports; -1: estimated from the last user message.
  int prompt_tokens = -1;
};

void ParseOptions(absl::string_view query, Options& o) {
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    int v = 0;
    const bool num = absl::SimpleAtoi(p.second, &v);
    if (p.first == "tokens" && num)
      o.tokens = v;
    else if (p.first == "chunks" && num)
      o.chunks = v;
    else if (p.first == "delay_ms" && num)
      o.delay_ms = v;
    else if (p.first == "status" && num)
      o.status = v;
    else if (p.first == "retry_after")
      o.retry_after = std::string(p.second);
    else if (p.first == "fail_after" && num)
      o.fail_after = v;
    else if (p.first == "chunk_bytes" && num && v > 0)
      o.chunk_bytes = v;
    else if (p.first == "echo")
      o.echo = p.second == "1";
    else if (p.first == "quote_key")
      o.quote_key = p.second == "1";
    else if (p.first == "prompt_tokens" && num && v >= 0)
      o.prompt_tokens = v;
    else if (int64_t b = 0; p.first == "bytes" && absl::SimpleAtoi(p.second, &b) && b > 0)
      o.bytes = b;
  }
}

class MockProvider {
 public:
  explicit MockProvider(std::vector<Fixture> fixtures) : fixtures_(std::move(fixtures)) {}

  void Handle(HttpRequest req, std::shared_ptr<ResponseWriter> w) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    const absl::string_view path = req.Path();
    if (absl::StartsWith(path, "/__mock/sink")) {
      // A webhook receiver: recorded, answered 204 (or ?status=N).
      Record(req);
      HttpResponse r;
      r.status = 204;
      if (const size_t q = req.target.find("status="); q != std::string::npos) {
        (void)absl::SimpleAtoi(absl::string_view(req.target).substr(q + 7, 3), &r.status);
      }
      return w->Send(std::move(r));
    }
    if (absl::StartsWith(path, "/__mock/")) return Admin(req, *w);
    Record(req);

    rapidjson::Document body;
    if (!req.body.empty()) (void)json::ParseBounded(body, req.body);
    std::string model;
    if (body.IsObject() && body.HasMember("model") && body["model"].IsString())
      model = std::string(json::View(body["model"]));
    // Gemini and friends put the model in the path, escaped:
    // ".../models/fixture%2Fx:generateContent".
    if (model.empty()) {
      const size_t at = path.find("/models/");
      if (at != absl::string_view::npos) {
        absl::string_view m = path.substr(at + 8);
        m = m.substr(0, m.find(':'));
        model = edge::PercentDecode(m);
      }
    }
    std::string selector = model;
    // A header may pick the fixture instead of the model name: many fixtures share one path.
    if (absl::string_view f = req.Header("x-mock-fixture"); !f.empty())
      selector = absl::StrCat("fixture/", f);
    if (absl::string_view h = req.Header("x-mock"); !h.empty())
      selector = absl::StrCat(selector, "?", h);
    const size_t q = selector.find('?');
    Options opts;
    if (q != std::string::npos) ParseOptions(absl::string_view(selector).substr(q + 1), opts);
    if (opts.quote_key) opts.quoted_key = std::string(req.Header("authorization"));
    const std::string name = selector.substr(0, q);

    if (absl::StartsWith(name, "fixture/"))
      return ReplayFixture(name.substr(8), path, opts, std::move(w));
    // No model to go by (TGI's /generate): the one fixture whose method and path match, if there is
    // one.
    if (name.empty()) {
      if (const Fixture* only = OnlyFixtureFor(req.method, path); only != nullptr) {
        return ReplayFixture(absl::StrCat(only->provider, "/", only->name), path, opts,
                             std::move(w));
      }
    }
    if (std::string embeddings;
        RenderEmbeddings(path, body, model.empty() ? "synthetic" : model.substr(0, model.find('?')),
                         embeddings)) {
      HttpResponse r;
      r.body = std::move(embeddings);
      return w->Send(std::move(r));
    }
    const Format format = FormatForPath(path);
    if (format != Format::kOpenAi || (!opts.echo && !ToolToCall(format, body).empty())) {
      return SynthesizeNative(format, path, body, model.substr(0, model.find('?')), opts,
                              std::move(w));
    }
    const bool stream = body.IsObject() && body.HasMember("stream") && body["stream"].IsBool() &&
                        body["stream"].GetBool();
    bool include_usage = false;
    if (body.IsObject() && body.HasMember("stream_options") && body["stream_options"].IsObject()) {
      const auto& so = body["stream_options"];
      include_usage = so.HasMember("include_usage") && so["include_usage"].IsBool() &&
                      so["include_usage"].GetBool();
    }
    // Answers name the model without its options ("synthetic?tokens=5" answers as "synthetic").
    Synthesize(body, model.substr(0, model.find('?')), opts, stream, include_usage, std::move(w));
  }

 private:
  void Admin(const HttpRequest& req, ResponseWriter& w) {
    HttpResponse r;
    if (req.Path() == "/__mock/requests" && req.method == "DELETE") {
      absl::MutexLock lock(&mu_);
      recorded_.clear();
      r.body = "{}";
    } else if (req.Path() == "/__mock/requests") {
      absl::MutexLock lock(&mu_);
      r.body = "[";
      for (size_t i = 0; i < recorded_.size(); ++i) {
        if (i > 0) r.body += ",";
        r.body += recorded_[i];
      }
      r.body += "]";
    } else if (req.Path() == "/__mock/stats") {
      r.body = absl::StrCat(
          R"({"requests":)", requests_.load(), R"(,"streams_started":)", streams_started_.load(),
          R"(,"streams_completed":)", streams_completed_.load(), R"(,"client_disconnects":)",
          client_disconnects_.load(), R"(,"firehose_bytes":)", firehose_bytes_.load(), "}");
    } else {
      r.status = 404;
      r.body = R"({"error":"unknown mock endpoint"})";
    }
    w.Send(std::move(r));
  }

  void Record(const HttpRequest& req) {
    std::string j = absl::StrCat(R"({"method":)", json::Quote(req.method), R"(,"path":)",
                                 json::Quote(req.target), R"(,"headers":{)");
    bool first = true;
    for (const auto& [k, v] : req.headers) {
      absl::StrAppend(&j, first ? "" : ",", json::Quote(k), ":", json::Quote(v));
      first = false;
    }
    absl::StrAppend(&j, R"(},"body":)", json::Quote(req.body), "}");
    absl::MutexLock lock(&mu_);
    recorded_.push_back(std::move(j));
    while (recorded_.size() > 100) recorded_.pop_front();
  }

  const Fixture* FindFixture(absl::string_view name, absl::string_view path) const {
    // "provider/name" picks exactly; a bare name prefers the provider whose path matches.
    std::string provider;
    std::string fname(name);
    if (size_t slash = name.find('/'); slash != absl::string_view::npos) {
      provider = std::string(name.substr(0, slash));
      fname = std::string(name.substr(slash + 1));
    }
    const Fixture* fallback = nullptr;
    for (const Fixture& f : fixtures_) {
      if (f.name != fname || (!provider.empty() && f.provider != provider)) continue;
      if (!provider.empty()) return &f;
      const absl::string_view fpath = absl::string_view(f.path).substr(0, f.path.find('?'));
      if (absl::EndsWith(path, fpath) || absl::EndsWith(fpath, path)) return &f;
      if (fallback == nullptr || f.provider == "openai") fallback = &f;
    }
    return fallback;
  }

  const Fixture* OnlyFixtureFor(absl::string_view method, absl::string_view path) const {
    const Fixture* found = nullptr;
    for (const Fixture& f : fixtures_) {
      if (f.method != method || absl::string_view(f.path).substr(0, f.path.find('?')) != path)
        continue;
      if (found != nullptr) return nullptr;
      found = &f;
    }
    return found;
  }

  void ReplayFixture(absl::string_view name, absl::string_view path, const Options& opts,
                     std::shared_ptr<ResponseWriter> w) {
    const Fixture* f = FindFixture(name, path);
    if (f == nullptr) {
      HttpResponse r;
      r.status = 404;
      r.body = absl::StrCat(R"({"error":{"message":"mock-provider: no fixture )", name,
                            R"(","type":"invalid_request_error","param":null,"code":null}})");
      return w->Send(std::move(r));
    }
    HttpResponse r;
    r.status = f->status;
    r.content_type = f->content_type;
    r.headers = f->headers;
    if (!f->streamed) {
      r.body = f->body;
      return w->Send(std::move(r));
    }
    streams_started_.fetch_add(1);
    w->OnDisconnect([this] { client_disconnects_.fetch_add(1); });
    w->StartStream(std::move(r));
    // Written in small pieces, so that events (and multi-byte characters) split across reads.
    const std::string& b = f->body;
    std::thread([this, w, &b, opts] {
      int pieces = 0;
      for (size_t at = 0; at < b.size(); at += opts.chunk_bytes) {
        if (opts.fail_after >= 0 && pieces++ >= opts.fail_after) return w->Abort();
        if (opts.delay_ms > 0) absl::SleepFor(absl::Milliseconds(opts.delay_ms));
        if (!w->Write(b.substr(at, opts.chunk_bytes))) return;
      }
      w->End();
      streams_completed_.fetch_add(1);
    }).detach();
  }

  static std::string LastUserMessage(const rapidjson::Document& body) {
    if (!body.IsObject() || !body.HasMember("messages") || !body["messages"].IsArray()) return "";
    std::string last;
    for (const auto& m : body["messages"].GetArray()) {
      if (m.IsObject() && m.HasMember("role") && m["role"].IsString() &&
          std::string(m["role"].GetString()) == "user" && m.HasMember("content") &&
          m["content"].IsString()) {
        last = m["content"].GetString();
      }
    }
    return last;
  }

  void Synthesize(const rapidjson::Document& body, const std::string& model, const Options& opts,
                  bool stream, bool include_usage, std::shared_ptr<ResponseWriter> w) {
    if (opts.status != 200) {
      HttpResponse r;
      r.status = opts.status;
      if (!opts.retry_after.empty()) r.headers.emplace_back("retry-after", opts.retry_after);
      const char* type = opts.status == 429   ? "requests"
                         : opts.status >= 500 ? "server_error"
                                              : "invalid_request_error";
      r.body =
          absl::StrCat(R"({"error":{"message":)",
                       json::Quote(absl::StrCat("mock-provider: status ", opts.status,
                                                opts.quote_key ? " with " : "", opts.quoted_key)),
                       R"(,"type":")", type, R"(","param":null,"code":null}})");
      if (opts.delay_ms > 0) absl::SleepFor(absl::Milliseconds(opts.delay_ms));
      return w->Send(std::move(r));
    }
    std::vector<std::string> words;
    if (opts.echo) {
      words = absl::StrSplit(LastUserMessage(body), ' ');
    } else {
      for (int i = 0; i < opts.tokens; ++i)
        words.push_back(absl::StrCat(i == 0 ? "" : " ", "tok", i));
    }
    if (opts.echo) {
      for (size_t i = 1; i < words.size(); ++i) words[i] = " " + words[i];
    }
    const int64_t prompt_tokens =
        opts.prompt_tokens >= 0
            ? opts.prompt_tokens
            : static_cast<int64_t>(body.IsObject() ? 1 + LastUserMessage(body).size() / 4 : 1);
    const int64_t completion_tokens = static_cast<int64_t>(words.size());
    const std::string id = absl::StrCat("chatcmpl-mock", next_id_.fetch_add(1));
    const int64_t created = absl::ToUnixSeconds(absl::Now());
    const std::string usage = absl::StrCat(
        R"({"prompt_tokens":)", prompt_tokens, R"(,"completion_tokens":)", completion_tokens,
        R"(,"total_tokens":)", prompt_tokens + completion_tokens, "}");
    const std::string head = absl::StrCat(R"({"id":")", id, R"(","object":)");
    if (!stream) {
      std::string text;
      for (const auto& wd : words) text += wd;
      HttpResponse r;
      r.body = absl::StrCat(
          head, R"("chat.completion","created":)", created, R"(,"model":)", json::Quote(model),
          R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)", json::Quote(text),
          R"(,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":)", usage,
          R"(,"system_fingerprint":"fp_mock"})");
      if (opts.delay_ms > 0) {
        std::thread([w, r = std::move(r), d = opts.delay_ms]() mutable {
          absl::SleepFor(absl::Milliseconds(d));
          w->Send(std::move(r));
        }).detach();
        return;
      }
      return w->Send(std::move(r));
    }
    if (opts.bytes > 0) return Firehose::Start(*this, std::move(w), model, opts.bytes);
    // Group the words into `chunks` content chunks.
    const int nchunks = std::max(1, opts.chunks > 0 ? opts.chunks : static_cast<int>(words.size()));
    std::vector<std::string> pieces(nchunks);
    for (size_t i = 0; i < words.size(); ++i)
      pieces[i * nchunks / std::max<size_t>(1, words.size())] += words[i];
    const std::string chunk_head = absl::StrCat(
        "data: ", head, R"("chat.completion.chunk","created":)", created, R"(,"model":)",
        json::Quote(model), R"(,"system_fingerprint":"fp_mock","choices":[{"index":0,"delta":)");
    std::vector<std::string> events;
    events.push_back(absl::StrCat(
        chunk_head,
        R"({"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}])",
        include_usage ? R"(,"usage":null)" : "", "}\n\n"));
    for (const std::string& p : pieces) {
      events.push_back(absl::StrCat(chunk_head, R"({"content":)", json::Quote(p),
                                    R"(},"logprobs":null,"finish_reason":null}])",
                                    include_usage ? R"(,"usage":null)" : "", "}\n\n"));
    }
    events.push_back(absl::StrCat(chunk_head, R"({},"logprobs":null,"finish_reason":"stop"}])",
                                  include_usage ? R"(,"usage":null)" : "", "}\n\n"));
    if (include_usage) {
      events.push_back(absl::StrCat("data: ", head, R"("chat.completion.chunk","created":)",
                                    created, R"(,"model":)", json::Quote(model),
                                    R"(,"system_fingerprint":"fp_mock","choices":[],"usage":)",
                                    usage, "}\n\n"));
    }
    events.push_back("data: [DONE]\n\n");
    WriteEvents(std::move(w), "text/event-stream; charset=utf-8", std::move(events), opts);
  }

  // Any provider's format, for tests and benchmarks of the translating adapters.
  void SynthesizeNative(Format format, absl::string_view path, const rapidjson::Document& body,
                        const std::string& model, const Options& opts,
                        std::shared_ptr<ResponseWriter> w) {
    if (opts.status != 200) {
      HttpResponse r;
      r.status = opts.status;
      if (!opts.retry_after.empty()) r.headers.emplace_back("retry-after", opts.retry_after);
      r.body = absl::StrCat(R"({"error":{"message":"mock-provider: status )", opts.status,
                            R"(","type":"error","param":null,"code":null}})");
      return w->Send(std::move(r));
    }
    Synthetic syn;
    syn.model = model.empty() ? "synthetic" : model;
    syn.id = absl::StrCat("mock-", next_id_.fetch_add(1));
    if (!opts.echo) syn.tool_name = ToolToCall(format, body);
    const std::string user = LastUserText(format, body);
    syn.prompt_tokens =
        opts.prompt_tokens >= 0 ? opts.prompt_tokens : static_cast<int64_t>(1 + user.size() / 4);
    std::vector<std::string> words;
    if (opts.echo) {
      words = absl::StrSplit(user, ' ');
      for (size_t i = 1; i < words.size(); ++i) words[i] = " " + words[i];
    } else {
      for (int i = 0; i < opts.tokens; ++i)
        words.push_back(absl::StrCat(i == 0 ? "" : " ", "tok", i));
    }
    syn.completion_tokens = static_cast<int64_t>(words.size());
    const int nchunks = std::max(1, opts.chunks > 0 ? opts.chunks : static_cast<int>(words.size()));
    syn.pieces.resize(std::min<size_t>(nchunks, std::max<size_t>(1, words.size())));
    for (size_t i = 0; i < words.size(); ++i)
      syn.pieces[i * syn.pieces.size() / words.size()] += words[i];
    bool include_usage = false;
    if (const auto so = body.IsObject() ? body.FindMember("stream_options") : body.MemberEnd();
        body.IsObject() && so != body.MemberEnd() && so->value.IsObject() &&
        so->value.HasMember("include_usage")) {
      include_usage = so->value["include_usage"].IsBool() && so->value["include_usage"].GetBool();
    }
    const bool stream = StreamRequested(format, path, body);
    Rendered out = Render(format, syn, stream, include_usage, absl::ToUnixSeconds(absl::Now()));
    if (!stream) {
      HttpResponse r;
      r.content_type = out.content_type;
      r.body = std::move(out.body);
      return w->Send(std::move(r));
    }
    WriteEvents(std::move(w), out.content_type, std::move(out.events), opts);
  }

  // A streamed answer, one write per event, paced by the options.
  void WriteEvents(std::shared_ptr<ResponseWriter> w, const std::string& content_type,
                   std::vector<std::string> events, const Options& opts) {
    HttpResponse r;
    r.content_type = content_type;
    streams_started_.fetch_add(1);
    w->OnDisconnect([this] { client_disconnects_.fetch_add(1); });
    w->StartStream(std::move(r));
    if (opts.delay_ms == 0 && opts.fail_after < 0) {
      for (std::string& e : events) w->Write(std::move(e));
      w->End();
      streams_completed_.fetch_add(1);
      return;
    }
    std::thread([this, w, events = std::move(events), opts]() mutable {
      for (size_t i = 0; i < events.size(); ++i) {
        if (opts.fail_after >= 0 && static_cast<int>(i) >= opts.fail_after) return w->Abort();
        if (opts.delay_ms > 0) absl::SleepFor(absl::Milliseconds(opts.delay_ms));
        if (!w->Write(std::move(events[i]))) return;
      }
      w->End();
      streams_completed_.fetch_add(1);
    }).detach();
  }

  // An OpenAI stream of `bytes` of content in events of 4 KiB, written only as fast as the client
  // takes it (the writer's backpressure): so a client that stops reading costs the mock nothing,
  // and firehose_bytes says how much the client (the gateway) has taken, give or take the
  // buffers between. Lives through its writer's callbacks.
  class Firehose : public std::enable_shared_from_this<Firehose> {
   public:
    static void Start(MockProvider& m, std::shared_ptr<ResponseWriter> w, const std::string& model,
                      int64_t bytes) {
      auto f = std::make_shared<Firehose>(m, std::move(w), model, bytes);
      m.streams_started_.fetch_add(1);
      f->w_->OnDisconnect([&m] { m.client_disconnects_.fetch_add(1); });
      HttpResponse head;
      head.content_type = "text/event-stream; charset=utf-8";
      f->w_->StartStream(std::move(head));
      f->Run();
    }

    Firehose(MockProvider& m, std::shared_ptr<ResponseWriter> w, const std::string& model,
             int64_t bytes)
        : m_(m), w_(std::move(w)), flow_(w_->Flow()), left_(bytes) {
      chunk_head_ = absl::StrCat(R"(data: {"id":"chatcmpl-firehose","object":)",
                                 R"("chat.completion.chunk","created":1,"model":)",
                                 json::Quote(model), R"(,"choices":[{"index":0,"delta":)");
      event_ = absl::StrCat(chunk_head_, R"({"content":")", std::string(4096, 'x'),
                            R"("},"finish_reason":null}]})", "\n\n");
    }

    void Run() {
      while (left_ > 0) {
        if (flow_->Full()) {
          flow_->WhenReady([self = shared_from_this()] { self->Run(); });
          return;
        }
        if (!w_->Write(event_)) return;  // The client is gone.
        left_ -= 4096;
        m_.firehose_bytes_.fetch_add(static_cast<int64_t>(event_.size()));
      }
      if (done_) return;
      done_ = true;
      w_->Write(
          absl::StrCat(chunk_head_, R"({},"finish_reason":"stop"}]})", "\n\ndata: [DONE]\n\n"));
      w_->End();
      m_.streams_completed_.fetch_add(1);
    }

   private:
    MockProvider& m_;
    std::shared_ptr<ResponseWriter> w_;
    std::shared_ptr<rpc::FlowControl> flow_;
    int64_t left_;
    bool done_ = false;
    std::string chunk_head_;
    std::string event_;
  };

  const std::vector<Fixture> fixtures_;
  absl::Mutex mu_;
  std::deque<std::string> recorded_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> requests_{0}, streams_started_{0}, streams_completed_{0},
      client_disconnects_{0}, firehose_bytes_{0};
  std::atomic<int64_t> next_id_{1};
};

}  // namespace
}  // namespace aimarket::mock

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:9999";
  std::string fixtures;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--listen=")) {
      listen = std::string(a);
    } else if (absl::ConsumePrefix(&a, "--fixtures=")) {
      fixtures = std::string(a);
    } else if (absl::ConsumePrefix(&a, "--threads=")) {
      if (!absl::SimpleAtoi(a, &threads)) threads = 1;
    } else {
      std::cerr << "usage: mock-provider --listen=HOST:PORT [--fixtures=DIR] [--threads=N]\n";
      return 2;
    }
  }
  aimarket::process::Prepare();

  auto mock =
      std::make_unique<aimarket::mock::MockProvider>(aimarket::mock::LoadFixtures(fixtures));
  auto server = aimarket::edge::HttpServer::Start(
      {.listen = listen, .io_threads = threads, .max_body_bytes = 64 << 20},
      [m = mock.get()](aimarket::edge::HttpRequest r,
                       std::shared_ptr<aimarket::edge::ResponseWriter> w) {
        m->Handle(std::move(r), std::move(w));
      });
  if (!server.ok()) {
    std::cerr << "mock-provider: " << server.status() << "\n";
    return 1;
  }
  std::cout << "mock-provider listening on port " << (*server)->port() << std::endl;
  // The logger starts now, not on the first warning (which may come when descriptors ran out).
  aimarket::log::Info("mock-provider serving", {{"port", (*server)->port()}});
  aimarket::process::WaitForShutdownSignal();
  (*server)->Shutdown(absl::Seconds(2));
  return 0;
}
