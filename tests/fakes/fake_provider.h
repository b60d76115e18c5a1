#pragma once

// A ProviderApi whose upstreams each test scripts by provider name: a Generate call to a scripted
// provider streams its events (each raw_json as given), then ends with its status; an unscripted
// provider is unreachable (UNAVAILABLE, UPSTREAM_UNREACHABLE). Every call is recorded, so tests see
// which deployments were tried in which order. Answers on the caller's thread.
//
//   fakes::FakeProvider provider;
//   provider.Script("primary", {.status = UpstreamError(503)});
//   provider.Script("backup", {.events = {"{...}"}});

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "services/provider_adapter/provider_api.h"

namespace aimarket::fakes {

// An upstream's HTTP error as provider-adapter reports it (ErrorInfo.http_status set).
absl::Status UpstreamError(int http_status);

struct Upstream {
  std::vector<std::string> events = {};    // raw_json of each event
  absl::Status status = absl::OkStatus();  // the end of the stream (or Embed's answer)
  // Reported after the events as a stream's usage event (usage_only), and in Embed's answer.
  std::optional<common::v1::Usage> usage = std::nullopt;
};

class FakeProvider final : public provider::ProviderApi {
 public:
  void Script(const std::string& provider, Upstream upstream);

  void Generate(rpc::CallContext ctx, const provider::v1::Target& target,
                const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  void Embed(const rpc::CallContext& ctx, const provider::v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done) override;
  absl::StatusOr<provider::v1::CheckHealthResponse> CheckHealth(
      const rpc::CallContext& ctx, const provider::v1::CheckHealthRequest& req) override;

  // "provider/model" of every call, in order.
  std::vector<std::string> calls();

 private:
  // The script of `target`, recording the call; nullptr if unscripted.
  const Upstream* Called(const provider::v1::Target& target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Upstream> upstreams_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::fakes
