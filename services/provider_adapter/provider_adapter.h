#pragma once

// provider-adapter's logic: one adapter per provider wire format, outbound HTTPS, provider health.
// Never sees gRPC.
//
// Not built yet: the adapters arrive with the OpenAI-compatible edge and provider-adapter issues;
// until then every RPC answers UNIMPLEMENTED.

#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/provider_api.h"

namespace aimarket::provider {

class ProviderAdapter final : public ProviderApi {
 public:
  explicit ProviderAdapter(const config::v1::Config& config);

  void Generate(rpc::CallContext ctx, const v1::GenerateRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  absl::StatusOr<common::v1::EmbedResponse> Embed(const rpc::CallContext& ctx, const v1::EmbedRequest& req) override;
  absl::StatusOr<v1::CheckHealthResponse> CheckHealth(const rpc::CallContext& ctx,
                                                      const v1::CheckHealthRequest& req) override;

 private:
  const config::v1::Config& config_;  // Not owned; outlives the service.
};

}  // namespace aimarket::provider
