#pragma once

// provider-adapter's logic: one adapter per provider wire format (registered in
// builtin_providers.cc), outbound HTTP on libcurl's multi interface. Never sees gRPC.
//
// Every wire format (docs/providers.md): chat (Generate), embeddings (Embed, on a pool of its own)
// and health checks (CheckHealth, blocking; all providers at once). Every call is counted and timed
// per provider (ProviderMetrics).

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/thread/worker_pool.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/provider_api.h"
#include "services/provider_adapter/provider_metrics.h"
#include "services/provider_adapter/providers/provider.h"

namespace aimarket::provider {

class ProviderAdapter final : public ProviderApi {
 public:
  // One Provider per `config.providers` entry. `config` outlives the adapter. A provider whose
  // config cannot work fails the creation (INVALID_ARGUMENT naming the key, e.g.
  // "providers[2].api: ..."); one whose key variable is unset is unavailable: its calls answer
  // NOT_FOUND PROVIDER_KEY_MISSING naming the variable, and nothing is sent.
  static absl::StatusOr<std::unique_ptr<ProviderAdapter>> Create(const config::v1::Config& config);
  ~ProviderAdapter() override;

  void Generate(rpc::CallContext ctx, const v1::Target& target, const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  // Runs the provider's blocking embeddings call on a pool of its own (kEmbedThreads), never on
  // the caller's thread.
  void Embed(const rpc::CallContext& ctx, const v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done) override;
  absl::StatusOr<v1::CheckHealthResponse> CheckHealth(const rpc::CallContext& ctx,
                                                      const v1::CheckHealthRequest& req) override;

 private:
  explicit ProviderAdapter(const config::v1::Config& config);

  std::unique_ptr<HttpClient> http_;
  struct Entry {
    std::unique_ptr<Provider> provider;  // Null when unavailable.
    std::string unavailable;             // Why: the key variable to set.
    std::string api_key;                 // Redacted from whatever the upstream says.
    ProviderMetrics metrics;
  };
  // The entry of `name` with a provider; NOT_FOUND otherwise.
  absl::StatusOr<const Entry*> Find(const std::string& name) const;
  std::map<std::string, Entry> providers_;  // By config name: one lookup a call finds both.
  // Embeddings calls waiting on their upstream. Stopped first in the destructor.
  static constexpr int kEmbedThreads = 16;
  std::unique_ptr<thread::WorkerPool> embed_pool_;
};

}  // namespace aimarket::provider
