#pragma once

// One upstream wire format. Thread-safe; per-call state lives in the call objects.

#include <string>

#include "aimarket/common/v1/chat.pb.h"
#include "common/rpc/call_context.h"

namespace aimarket::provider {

class Provider {
 public:
  virtual ~Provider() = default;
  // Streams the upstream's answer to `observer` (OnComplete exactly once). `req` and `observer`
  // must outlive OnComplete. Cancelling ctx.cancellation closes the upstream connection.
  virtual void Generate(const rpc::CallContext& ctx, const std::string& upstream_model,
                        const common::v1::ChatRequest& req, rpc::StreamObserver<common::v1::ChatEvent>& observer) = 0;
};

}  // namespace aimarket::provider
