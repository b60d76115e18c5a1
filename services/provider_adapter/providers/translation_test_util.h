#pragma once

// Drives a provider's translation without a network (unit tests and the fuzz targets): a fake
// HttpClient hands the test the adapter's upstream request and lets it replay a captured body in
// pieces cut wherever it likes; the OpenAI events that come out are folded into what a client would
// assemble.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/rpc/call_context.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/provider.h"

namespace aimarket::provider::testing {

class FakeHttp final : public HttpClient {
 public:
  std::shared_ptr<HttpCall> Start(HttpCallRequest request, HttpCallHandler& handler) override;
  HttpCallRequest request;
  HttpCallHandler* handler = nullptr;
  bool cancelled = false;  // The last call was cancelled.
};

// The events of one call, until its one OnComplete.
class Collector final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  void OnEvent(const common::v1::ChatEvent& ev) override { events.push_back(ev); }
  void OnComplete(const absl::Status& s) override {
    status = s;
    done = true;
  }
  std::vector<common::v1::ChatEvent> events;
  absl::Status status;
  bool done = false;
};

struct ToolCallSeen {
  std::string id;
  std::string name;
  std::string arguments;
  bool operator==(const ToolCallSeen&) const = default;
};

// A provider's config for translation tests: named "up", at http://upstream.test.
config::v1::ProviderConfig UpstreamConfig(config::v1::ProviderType type,
                                          const std::string& api = "");

// What a client assembles from the events of one call.
struct Folded {
  std::string content;
  std::string reasoning;            // reasoning_content
  std::string reasoning_signature;  // reasoning_signature
  std::vector<ToolCallSeen> tool_calls;
  std::string finish_reason;
  int64_t prompt_tokens = -1, completion_tokens = -1, total_tokens = -1, cached_tokens = -1,
          reasoning_tokens = -1, cache_write_tokens = -1;
  common::v1::Usage usage;  // The last event's usage, as metering reads it.
  int events = 0;
  bool completion = false;  // A chat.completion (not chunks).
  bool valid_utf8 = true;   // Every event's JSON is valid UTF-8.
  absl::Status status;
  bool operator==(const Folded& o) const {
    return content == o.content && reasoning == o.reasoning &&
           reasoning_signature == o.reasoning_signature && tool_calls == o.tool_calls &&
           finish_reason == o.finish_reason && prompt_tokens == o.prompt_tokens &&
           completion_tokens == o.completion_tokens && total_tokens == o.total_tokens &&
           cached_tokens == o.cached_tokens && completion == o.completion &&
           valid_utf8 == o.valid_utf8 && status.code() == o.status.code();
  }
};
std::ostream& operator<<(std::ostream& os, const Folded& f);

// `f` with every non-empty tool-call id replaced by "<id>": for providers whose ids aimarket makes
// (random), so that two runs compare equal.
Folded WithoutIds(Folded f);

// Runs `provider.Generate` for `req` against a fake upstream that answers `status` with `body`,
// delivered in pieces cut at `cuts` (ascending offsets). `request` (if not null) receives the
// upstream request the adapter made.
Folded Replay(Provider& provider, FakeHttp& http, const common::v1::ChatRequest& req,
              const std::string& body, const std::vector<size_t>& cuts = {}, int status = 200,
              std::vector<std::pair<std::string, std::string>> headers = {});

// A fixture file of tests/testdata/providers/<provider>/.
std::string Fixture(const std::string& provider, const std::string& file);

}  // namespace aimarket::provider::testing
