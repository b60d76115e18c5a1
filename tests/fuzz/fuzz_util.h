#pragma once

// What the fuzz targets share: the provider configurations they drive (every wire format), and a
// fake upstream that hands a target the adapter's request and lets it answer with fuzzed bytes.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/rpc/call_context.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::fuzz {

// One upstream call at a time; the handler stays until the target completes it.
class FakeHttp final : public provider::HttpClient {
 public:
  std::shared_ptr<provider::HttpCall> Start(provider::HttpCallRequest request, provider::HttpCallHandler& handler) override {
    this->request = std::move(request);
    this->handler = &handler;
    return std::make_shared<NoopCall>();
  }
  provider::HttpCallRequest request;
  provider::HttpCallHandler* handler = nullptr;

 private:
  struct NoopCall final : provider::HttpCall {
    void Cancel() override {}
  };
};

// Collects a call's events until its one OnComplete.
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

// Every wire format (Hugging Face in its three APIs), by name: "openai", "anthropic", ...
struct NamedConfig {
  const char* name;
  config::v1::ProviderConfig config;
};
const std::vector<NamedConfig>& ProviderConfigs();

}  // namespace aimarket::fuzz
