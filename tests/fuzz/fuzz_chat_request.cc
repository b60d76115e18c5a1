// The chat request path of the edge and every adapter's request side: a client's body is parsed
// and validated (ParseChatRequest); what passes is translated into each provider's upstream
// request (schema reduction, tool calls, images, ...). Nothing may crash, hang or recurse without
// bound, whatever the body.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "services/edge/chat_request_parser.h"
#include "services/provider_adapter/providers/builtin_providers.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aimarket;
  absl::StatusOr<common::v1::ChatRequest> req =
      edge::ParseChatRequest(std::string(reinterpret_cast<const char*>(data), size));
  if (!req.ok()) return 0;
  static config::v1::RemoteImagesConfig images;
  for (const fuzz::NamedConfig& named : fuzz::ProviderConfigs()) {
    fuzz::FakeHttp http;
    std::unique_ptr<provider::Provider> p =
        provider::NewBuiltinProvider(named.config, http, images).value();
    fuzz::Collector out;
    rpc::CallContext ctx;
    p->Generate(ctx, req->model(), *req, out);
    // A request the adapter sent: the upstream fails it, which ends the call.
    if (!out.done && http.handler != nullptr)
      http.handler->OnComplete(absl::UnavailableError("fuzz"));
  }
  return 0;
}
