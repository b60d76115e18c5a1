#pragma once

// Backpressure along a streamed answer. The consumer at the end of the chain (the edge's client
// connection; a gRPC stream's write queue in a process that serves a stream to another) says when
// it holds as much as it will take, and the producer in front of it (the upstream transfer; a gRPC
// client's read loop) stops taking more until there is room again. So a client that reads slowly,
// or not at all, slows the upstream read instead of filling the gateway's memory.
//
//   // The producer, after handing on what it read:
//   if (ctx.flow != nullptr && ctx.flow->Full()) {
//     call->Pause();
//     ctx.flow->WhenReady([call] { call->Resume(); });
//   }

#include <memory>

#include "absl/functional/any_invocable.h"

namespace aimarket::rpc {

// Implementations are thread-safe.
class FlowControl {
 public:
  virtual ~FlowControl() = default;
  // Whether the consumer holds as much as it will take now: the producer should pause.
  virtual bool Full() const = 0;
  // Runs `resume` exactly once, on any thread, as soon as the consumer has room again (below its
  // low-water mark) or is gone (a producer then learns of it by writing, or by its cancellation):
  // at once, on this thread, if that is so already. `resume` must be short and must not block.
  virtual void WhenReady(absl::AnyInvocable<void()> resume) = 0;
};

}  // namespace aimarket::rpc
