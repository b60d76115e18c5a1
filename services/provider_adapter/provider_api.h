#pragma once

// The C++ API of provider-adapter: implemented by ProviderAdapter (in process) and by the gRPC
// client from NewProviderGrpcClient (a peer in another process). Every RPC is internal.

#include "absl/status/statusor.h"
#include "aimarket/provider/v1/provider_service.pb.h"
#include "common/rpc/call_context.h"

namespace aimarket::provider {

// Thread-safe.
class ProviderApi {
 public:
  virtual ~ProviderApi() = default;
  // Streams the answer of the upstream `target` as ChatEvents. `req` and `observer` must outlive
  // OnComplete. Cancelling ctx.cancellation closes the upstream connection.
  virtual void Generate(rpc::CallContext ctx, const v1::Target& target,
                        const common::v1::ChatRequest& req,
                        rpc::StreamObserver<common::v1::ChatEvent>& observer) = 0;
  // `req` must outlive `done`, which runs exactly once, on any thread, and must not block.
  virtual void Embed(const rpc::CallContext& ctx, const v1::EmbedRequest& req,
                     rpc::Done<common::v1::EmbedResponse> done) = 0;
  virtual absl::StatusOr<v1::CheckHealthResponse> CheckHealth(
      const rpc::CallContext& ctx, const v1::CheckHealthRequest& req) = 0;
};

}  // namespace aimarket::provider
