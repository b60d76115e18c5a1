// Every provider's response side: upstream bytes (a stream or a body, a 2xx or an error, cut into
// pieces anywhere) go through the adapter's framing and translator into OpenAI events. The input's
// first line picks the provider and the mode ("anthropic s 200" = streamed, status 200); the rest
// is the upstream body. Every event that comes out must be a JSON object in valid UTF-8, and so
// must the error the call may end with.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/json/json_escape.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "services/provider_adapter/providers/builtin_providers.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimarket;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const absl::string_view header = nl == absl::string_view::npos ? input : input.substr(0, nl);
  const absl::string_view body =
      nl == absl::string_view::npos ? absl::string_view() : input.substr(nl + 1);
  std::vector<absl::string_view> words = absl::StrSplit(header, ' ');
  const auto& configs = fuzz::ProviderConfigs();
  const fuzz::NamedConfig* named =
      &configs[header.empty() ? 0 : static_cast<unsigned char>(header[0]) % configs.size()];
  for (const fuzz::NamedConfig& c : configs) {
    if (!words.empty() && words[0] == c.name) named = &c;
  }
  const bool stream = words.size() > 1 && words[1] == "s";
  int status = 200;
  if (words.size() > 2 && (!absl::SimpleAtoi(words[2], &status) || status < 100 || status > 599))
    status = 200;

  static config::v1::RemoteImagesConfig images;
  fuzz::FakeHttp http;
  std::unique_ptr<provider::Provider> p =
      provider::NewBuiltinProvider(named->config, http, images).value();
  common::v1::ChatRequest req;
  req.set_model("m");
  req.set_stream(stream);
  req.set_include_usage(true);
  common::v1::ChatMessage& m = *req.add_messages();
  m.set_role("user");
  m.set_content("hi");
  fuzz::Collector out;
  rpc::CallContext ctx;
  p->Generate(ctx, "upstream-model", req, out);
  if (http.handler == nullptr) return 0;
  http.handler->OnHeaders(status,
                          {{"content-type", stream ? "text/event-stream" : "application/json"}});
  // Cut the body where its bytes say (every 7th byte's low bits), so splits land anywhere.
  size_t at = 0;
  for (size_t i = 0; i < body.size(); i += 7) {
    const size_t cut = i + (static_cast<unsigned char>(body[i]) & 7);
    if (cut <= at || cut >= body.size()) continue;
    http.handler->OnData(body.substr(at, cut - at));
    at = cut;
  }
  if (at < body.size()) http.handler->OnData(body.substr(at));
  http.handler->OnComplete(absl::OkStatus());
  if (!out.done) __builtin_trap();  // Every call ends.
  // What the call ends with crosses gRPC (proto strings must be UTF-8) and reaches the client.
  if (!json::IsValidUtf8(out.status.message())) __builtin_trap();
  if (auto info = status::GetErrorInfo(out.status)) {
    if (!json::IsValidUtf8(info->type()) || !json::IsValidUtf8(info->param()) ||
        !json::IsValidUtf8(info->reason())) {
      __builtin_trap();
    }
  }
  for (const common::v1::ChatEvent& ev : out.events) {
    rapidjson::Document d;
    if (!json::ParseBounded(d, ev.raw_json(), /*validate_utf8=*/true) || !d.IsObject())
      __builtin_trap();
  }
  return 0;
}
