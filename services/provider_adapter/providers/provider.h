#pragma once

// One upstream wire format. Thread-safe; per-call state lives in the call objects.

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/common/v1/embedding.pb.h"
#include "common/rpc/call_context.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {

class Provider {
 public:
  virtual ~Provider() = default;
  // Streams the upstream's answer to `observer` (OnComplete exactly once). `req` and `observer`
  // must outlive OnComplete. Cancelling ctx.cancellation closes the upstream connection.
  virtual void Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                        const common::v1::ChatRequest& req,
                        rpc::StreamObserver<common::v1::ChatEvent>& observer) = 0;
  // The cheapest read-only request that shows the provider is up and the key is accepted (a GET
  // of its model list, or TGI's /health); CheckHealth expects a 2xx.
  virtual HttpCallRequest HealthRequest() const = 0;
  // Embeddings of `req.input` (floats; the edge encodes base64 itself). Blocks until the upstream
  // answers: never call it on an event-loop thread. INVALID_ARGUMENT for a provider without an
  // embeddings API.
  virtual absl::StatusOr<common::v1::EmbedResponse> Embed(const rpc::CallContext& ctx,
                                                          const std::string& upstream_model,
                                                          const common::v1::EmbedRequest& req);
};

}  // namespace aimarket::provider
