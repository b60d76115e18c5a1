#pragma once

// The C++ API of the router, the governed entry point for inference: implemented by Router (in
// process) and by the gRPC client from NewRouterGrpcClient (a peer in another process). The
// caller's key travels in ctx.authorization, exactly as gRPC metadata carries it.

#include "absl/status/statusor.h"
#include "aimarket/router/v1/router_service.pb.h"
#include "common/rpc/call_context.h"

namespace aimarket::router {

// Thread-safe.
class RouterApi {
 public:
  virtual ~RouterApi() = default;
  // Streams the completion. `req` and `observer` must outlive OnComplete. Cancelling
  // ctx.cancellation cancels the whole chain up to the upstream connection.
  virtual void Chat(rpc::CallContext ctx, const common::v1::ChatRequest& req,
                    rpc::StreamObserver<common::v1::ChatEvent>& observer) = 0;
  // UNAUTHENTICATED without a valid key; NOT_FOUND (MODEL_NOT_FOUND) for an unknown req.model.
  virtual absl::StatusOr<v1::ListModelsResponse> ListModels(const rpc::CallContext& ctx,
                                                            const v1::ListModelsRequest& req) = 0;
  // `req` must outlive `done`, which runs exactly once, on any thread, and must not block.
  virtual void Embed(rpc::CallContext ctx, const common::v1::EmbedRequest& req,
                     rpc::Done<common::v1::EmbedResponse> done) = 0;
};

}  // namespace aimarket::router
