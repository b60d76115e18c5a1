#pragma once

// What travels with every call between services, in process or over gRPC: the caller's
// credentials, the gateway's request id, a deadline and a cancellation signal. Service APIs
// (RouterApi, TeamApi, ...) take it as their first argument; the gRPC shims build it from
// metadata, and the gRPC clients write it back into metadata.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc/flow_control.h"

namespace aimarket::rpc {

// Metadata keys (lower case, as gRPC requires).
inline constexpr char kAuthorizationHeader[] = "authorization";
inline constexpr char kInternalTokenHeader[] = "x-aimarket-internal-token";
inline constexpr char kRequestIdHeader[] = "x-request-id";

// A one-shot cancellation signal shared by everyone working on one call. Thread-safe.
// Callbacks run exactly once, on the thread that calls Cancel() (or inside OnCancel() if already
// cancelled), while an internal lock is held: they must be short and must not call back into this
// object. RemoveCallback() therefore never returns while its callback is running.
class Cancellation {
 public:
  void Cancel();
  bool IsCancelled() const;
  // Registers `fn`; runs it at once if already cancelled. Returns an id for RemoveCallback.
  int OnCancel(absl::AnyInvocable<void()> fn);
  void RemoveCallback(int id);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<int, absl::AnyInvocable<void()>>> callbacks_ ABSL_GUARDED_BY(mu_);
};

struct CallContext {
  // The caller's API key as sent ("Bearer sk-..."); empty if none.
  std::string authorization;
  // The internal service token a peer presented; empty for external callers.
  std::string internal_token;
  // Issued by the gateway for this request.
  std::string request_id;
  absl::Time deadline = absl::InfiniteFuture();
  // Never null when built by the shims; may be shared by everyone working on the call.
  std::shared_ptr<Cancellation> cancellation = std::make_shared<Cancellation>();
  // The backpressure of the streamed answer's consumer, if it has any (flow_control.h): the edge's
  // client connection, or a gRPC server stream's write queue. Null: take everything at once.
  std::shared_ptr<FlowControl> flow;

  // The key of "Bearer <key>" (the scheme in any case); "" for any other scheme or none.
  std::string ApiKey() const;
};

// Receives the events of a server-streaming call. OnEvent is called zero or more times, never
// concurrently; OnComplete is called exactly once, last, after which the callee never touches the
// observer again. The observer must stay alive until OnComplete returns.
template <typename Event>
class StreamObserver {
 public:
  virtual ~StreamObserver() = default;
  virtual void OnEvent(const Event& event) = 0;
  virtual void OnComplete(const absl::Status& status) = 0;
};

// Receives the result of an asynchronous unary call, exactly once, on any thread; it must not
// block (it may run on an I/O thread).
template <typename Resp>
using Done = absl::AnyInvocable<void(absl::StatusOr<Resp>)>;

// Compares secrets in time independent of where they differ. False if either is empty.
bool SecretEquals(const std::string& a, const std::string& b);

// A new random request id: "req_" followed by 24 hex digits.
std::string NewRequestId();

}  // namespace aimarket::rpc
