#include "services/provider_adapter/providers/translation_test_util.h"

#include <fstream>
#include <ostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace aimarket::provider::testing {
namespace {

class RecordingCall final : public HttpCall {
 public:
  explicit RecordingCall(bool& cancelled) : cancelled_(cancelled) {}
  void Cancel() override { cancelled_ = true; }
  void Pause() override {}
  void Resume() override {}

 private:
  bool& cancelled_;
};

std::string Str(const rapidjson::Value& v, const char* k) {
  auto it = v.FindMember(k);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

void ReadUsage(const rapidjson::Value& u, Folded& f) {
  auto num = [&u](const char* k) -> int64_t {
    auto it = u.FindMember(k);
    return it != u.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : -1;
  };
  f.prompt_tokens = num("prompt_tokens");
  f.completion_tokens = num("completion_tokens");
  f.total_tokens = num("total_tokens");
  if (auto d = u.FindMember("prompt_tokens_details"); d != u.MemberEnd() && d->value.IsObject()) {
    auto it = d->value.FindMember("cached_tokens");
    if (it != d->value.MemberEnd() && it->value.IsInt64()) f.cached_tokens = it->value.GetInt64();
  }
  if (auto d = u.FindMember("completion_tokens_details");
      d != u.MemberEnd() && d->value.IsObject()) {
    auto it = d->value.FindMember("reasoning_tokens");
    if (it != d->value.MemberEnd() && it->value.IsInt64())
      f.reasoning_tokens = it->value.GetInt64();
  }
}

void Fold(const common::v1::ChatEvent& ev, Folded& f) {
  ++f.events;
  // Not in OpenAI's JSON: only in the event's usage, for metering.
  if (ev.has_usage()) {
    f.cache_write_tokens = ev.usage().cache_write_tokens();
    f.usage = ev.usage();
  }
  rapidjson::Document d;
  // Validating the encoding: no event may carry half of a multi-byte character.
  if (d.Parse<rapidjson::kParseValidateEncodingFlag>(ev.raw_json().data(), ev.raw_json().size())
          .HasParseError() ||
      !d.IsObject()) {
    f.valid_utf8 = false;
    return;
  }
  if (auto u = d.FindMember("usage"); u != d.MemberEnd() && u->value.IsObject())
    ReadUsage(u->value, f);
  if (Str(d, "object") == "chat.completion") f.completion = true;
  auto choices = d.FindMember("choices");
  if (choices == d.MemberEnd() || !choices->value.IsArray()) return;
  for (const auto& c : choices->value.GetArray()) {
    if (std::string finish = Str(c, "finish_reason"); !finish.empty()) f.finish_reason = finish;
    const char* key = f.completion ? "message" : "delta";
    auto m = c.FindMember(key);
    if (m == c.MemberEnd() || !m->value.IsObject()) continue;
    f.content += Str(m->value, "content");
    f.reasoning += Str(m->value, "reasoning_content");
    f.reasoning_signature += Str(m->value, "reasoning_signature");
    auto tcs = m->value.FindMember("tool_calls");
    if (tcs == m->value.MemberEnd() || !tcs->value.IsArray()) continue;
    int position = 0;
    for (const auto& tc : tcs->value.GetArray()) {
      size_t index = position++;
      if (auto i = tc.FindMember("index"); i != tc.MemberEnd() && i->value.IsInt())
        index = i->value.GetInt();
      if (f.tool_calls.size() <= index) f.tool_calls.resize(index + 1);
      ToolCallSeen& t = f.tool_calls[index];
      t.id += Str(tc, "id");
      if (auto fn = tc.FindMember("function"); fn != tc.MemberEnd() && fn->value.IsObject()) {
        t.name += Str(fn->value, "name");
        t.arguments += Str(fn->value, "arguments");
      }
    }
  }
}

}  // namespace

config::v1::ProviderConfig UpstreamConfig(config::v1::ProviderType type, const std::string& api) {
  config::v1::ProviderConfig c;
  c.set_name("up");
  c.set_type(type);
  c.set_base_url("http://upstream.test");
  c.set_api(api);
  return c;
}

std::shared_ptr<HttpCall> FakeHttp::Start(HttpCallRequest r, HttpCallHandler& h) {
  request = std::move(r);
  handler = &h;
  cancelled = false;
  return std::make_shared<RecordingCall>(cancelled);
}

std::ostream& operator<<(std::ostream& os, const Folded& f) {
  os << "{content=\"" << f.content << "\" reasoning=\"" << f.reasoning.substr(0, 80)
     << "\" signature=" << f.reasoning_signature.size() << "B finish=" << f.finish_reason
     << " tools=[";
  for (const auto& t : f.tool_calls) os << t.id << ":" << t.name << ":" << t.arguments << " ";
  return os << "] usage=" << f.prompt_tokens << "/" << f.completion_tokens << "/" << f.total_tokens
            << "/" << f.cached_tokens << " events=" << f.events << " completion=" << f.completion
            << " utf8=" << f.valid_utf8 << " status=" << f.status << "}";
}

Folded Replay(Provider& provider, FakeHttp& http, const common::v1::ChatRequest& req,
              const std::string& body, const std::vector<size_t>& cuts, int status,
              std::vector<std::pair<std::string, std::string>> headers) {
  Collector c;
  rpc::CallContext ctx;
  http.handler = nullptr;
  provider.Generate(ctx, "upstream-model", req, c);
  Folded f;
  if (http.handler == nullptr) {  // Refused before any upstream call.
    f.status = c.status;
    return f;
  }
  http.handler->OnHeaders(status, headers);
  size_t at = 0;
  for (size_t cut : cuts) {
    if (cut <= at || cut >= body.size()) continue;
    http.handler->OnData(absl::string_view(body).substr(at, cut - at));
    at = cut;
  }
  if (at < body.size()) http.handler->OnData(absl::string_view(body).substr(at));
  http.handler->OnComplete(absl::OkStatus());
  for (const auto& ev : c.events) Fold(ev, f);
  f.status = c.status;
  return f;
}

Folded WithoutIds(Folded f) {
  for (ToolCallSeen& t : f.tool_calls) {
    if (!t.id.empty()) t.id = "<id>";
  }
  return f;
}

std::string Fixture(const std::string& provider, const std::string& file) {
  std::ifstream in(
      absl::StrCat(AIMARKET_SOURCE_DIR, "/tests/testdata/providers/", provider, "/", file),
      std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace aimarket::provider::testing
