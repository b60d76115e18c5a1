#pragma once

// Adapters between a service's C++ API (absl::StatusOr results, rpc::StreamObserver streams) and
// gRPC's callback API. Included only by the .cc files of service shims and gRPC clients, which
// include gRPC anyway; never by a header.

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/metadata.h"
#include "common/grpc/server.h"
#include "common/rpc/call_context.h"
#include "common/status/grpc_status.h"
#include "common/thread/worker_pool.h"

namespace aimarket::grpcutil {

// Server side of a unary RPC: runs `fn(CallContext, const Req&) -> absl::StatusOr<Resp>` and
// finishes the call with its result. When `internal_token` is non-null the call must present it.
template <typename Req, typename Resp, typename Fn>
grpc::ServerUnaryReactor* ServeUnary(grpc::CallbackServerContext* ctx, const Req* req, Resp* resp,
                                     Fn&& fn, const std::string* internal_token = nullptr) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  InFlightCalls().fetch_add(1);
  struct Done {
    ~Done() { InFlightCalls().fetch_sub(1); }
  } done;
  rpc::CallContext cc = FromServerContext(*ctx);
  if (internal_token != nullptr) {
    if (absl::Status s = CheckInternalToken(cc, *internal_token); !s.ok()) {
      reactor->Finish(status::ToGrpcStatus(s));
      return reactor;
    }
  }
  absl::StatusOr<Resp> r = fn(cc, *req);
  if (r.ok()) *resp = *std::move(r);
  reactor->Finish(status::ToGrpcStatus(r.status()));
  return reactor;
}

// ServeUnary for an asynchronous `fn(CallContext, const Req&, rpc::Done<Resp>)`: the call finishes
// when `fn` calls its done, from whatever thread.
template <typename Req, typename Resp, typename Fn>
grpc::ServerUnaryReactor* ServeUnaryAsync(grpc::CallbackServerContext* ctx, const Req* req,
                                          Resp* resp, Fn&& fn,
                                          const std::string* internal_token = nullptr) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  rpc::CallContext cc = FromServerContext(*ctx);
  if (internal_token != nullptr) {
    if (absl::Status s = CheckInternalToken(cc, *internal_token); !s.ok()) {
      reactor->Finish(status::ToGrpcStatus(s));
      return reactor;
    }
  }
  InFlightCalls().fetch_add(1);
  fn(cc, *req, [reactor, resp](absl::StatusOr<Resp> r) {
    if (r.ok()) *resp = *std::move(r);
    reactor->Finish(status::ToGrpcStatus(r.status()));
    InFlightCalls().fetch_sub(1);
  });
  return reactor;
}

// ServeUnary for a `fn` that blocks (a database query): it runs on `pool`, never on gRPC's
// callback thread; the call finishes from there.
template <typename Req, typename Resp, typename Fn>
grpc::ServerUnaryReactor* ServeUnaryOn(thread::WorkerPool& pool, grpc::CallbackServerContext* ctx,
                                       const Req* req, Resp* resp, Fn fn,
                                       const std::string* internal_token = nullptr) {
  return ServeUnaryAsync(
      ctx, req, resp,
      [&pool, fn = std::move(fn)](const rpc::CallContext& cc, const Req& r,
                                  rpc::Done<Resp> done) mutable {
        // The request and the reactor live until the call finishes, which `done` does.
        pool.Run([&r, cc, fn, done = std::move(done)]() mutable { done(fn(cc, r)); });
      },
      internal_token);
}

// Client side of an asynchronous unary RPC: `start(ClientContext*, const Req*, Resp*,
// std::function<void(grpc::Status)>)` calls the stub's async() method; `done` gets the result on
// gRPC's callback thread.
template <typename Resp, typename Req, typename Start>
void CallUnaryAsync(const rpc::CallContext& cc, const Req& req, const std::string& internal_token,
                    rpc::Done<Resp> done, Start&& start) {
  struct Call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
    rpc::Done<Resp> done;
  };
  auto* call = new Call{{}, req, {}, std::move(done)};
  ApplyToClientContext(cc, internal_token, call->ctx);
  start(&call->ctx, &call->req, &call->resp, [call](grpc::Status s) {
    std::unique_ptr<Call> owned(call);
    if (s.ok()) {
      owned->done(std::move(owned->resp));
    } else {
      owned->done(status::FromGrpcStatus(s));
    }
  });
}

// Client side of a unary RPC through a generated stub's blocking method.
template <typename Resp, typename Stub, typename Req>
absl::StatusOr<Resp> CallUnary(
    Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
    const rpc::CallContext& cc, const Req& req, const std::string& internal_token) {
  grpc::ClientContext ctx;
  ApplyToClientContext(cc, internal_token, ctx);
  Resp resp;
  grpc::Status s = (stub.*method)(&ctx, req, &resp);
  if (!s.ok()) return status::FromGrpcStatus(s);
  return resp;
}

// The write queue of a server stream as backpressure for the service that fills it
// (CallContext::flow): full at kStreamQueueBytes of events not yet sent (the peer reads slowly, so
// gRPC's flow control holds the writes back), ready again below half, and for good once the stream
// is over. Thread-safe.
inline constexpr int64_t kStreamQueueBytes = 1 << 20;

class StreamQueueFlow final : public rpc::FlowControl {
 public:
  bool Full() const override {
    absl::MutexLock lock(&mu_);
    return !closed_ && queued_ >= kStreamQueueBytes;
  }
  void WhenReady(absl::AnyInvocable<void()> resume) override {
    {
      absl::MutexLock lock(&mu_);
      if (!closed_ && queued_ > kStreamQueueBytes / 2) {
        waiters_.push_back(std::move(resume));
        return;
      }
    }
    resume();
  }
  void Add(int64_t bytes) {
    absl::MutexLock lock(&mu_);
    queued_ += bytes;
  }
  void Sub(int64_t bytes) {
    std::vector<absl::AnyInvocable<void()>> ready;
    {
      absl::MutexLock lock(&mu_);
      queued_ -= bytes;
      if (queued_ <= kStreamQueueBytes / 2) ready.swap(waiters_);
    }
    for (auto& fn : ready) fn();
  }
  // The stream is over (done, or broken): whoever waits goes on, and learns of it by writing.
  void Close() {
    std::vector<absl::AnyInvocable<void()>> ready;
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      ready.swap(waiters_);
    }
    for (auto& fn : ready) fn();
  }

 private:
  mutable absl::Mutex mu_;
  int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void()>> waiters_ ABSL_GUARDED_BY(mu_);
};

// Server side of a server-streaming RPC: the service writes events into this observer from any
// thread; they are sent in order, one write in flight at a time, and what waits to be sent is the
// service's backpressure (flow()). A client that cancels or disconnects triggers the call's
// Cancellation. Deletes itself when gRPC is done with it.
template <typename Event>
class ServerStreamReactor final : public grpc::ServerWriteReactor<Event>,
                                  public rpc::StreamObserver<Event> {
 public:
  explicit ServerStreamReactor(std::shared_ptr<rpc::Cancellation> cancellation)
      : cancellation_(std::move(cancellation)), flow_(std::make_shared<StreamQueueFlow>()) {
    InFlightCalls().fetch_add(1);
  }
  ~ServerStreamReactor() override {
    flow_->Close();
    InFlightCalls().fetch_sub(1);
  }

  const std::shared_ptr<StreamQueueFlow>& flow() const { return flow_; }

  // gRPC may run reactions inline, so Start*/Finish are called after the lock is released.
  void OnEvent(const Event& event) override {
    Event* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (broken_ || complete_) return;
      queue_.push_back(event);
      flow_->Add(static_cast<int64_t>(queue_.back().ByteSizeLong()));
      if (!writing_) {
        writing_ = true;
        next = &queue_.front();  // deque::push_back keeps references to elements valid.
      }
    }
    if (next != nullptr) this->StartWrite(next);
  }

  void OnComplete(const absl::Status& status) override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      final_ = status::ToGrpcStatus(status);
      complete_ = true;
      finish = !writing_ && !finished_;
      finished_ = finished_ || finish;
    }
    if (finish) this->Finish(final_);
  }

  void OnWriteDone(bool ok) override {
    Event* next = nullptr;
    bool finish = false;
    int64_t sent = 0;
    {
      absl::MutexLock lock(&mu_);
      // The size was cached when the event was queued (ByteSizeLong) and serialized since.
      sent = static_cast<int64_t>(queue_.front().GetCachedSize());
      queue_.pop_front();
      if (!ok) {
        // The stream is broken (client gone): drop what is queued and stop the work upstream.
        broken_ = true;
        queue_.clear();
      }
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish = complete_ && !finished_;
        finished_ = finished_ || finish;
      }
    }
    if (ok) {
      flow_->Sub(sent);
    } else {
      flow_->Close();
      cancellation_->Cancel();
    }
    if (next != nullptr) {
      this->StartWrite(next);
    } else if (finish) {
      this->Finish(final_);
    }
  }

  void OnCancel() override { cancellation_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<rpc::Cancellation> cancellation_;
  const std::shared_ptr<StreamQueueFlow> flow_;
  absl::Mutex mu_;
  std::deque<Event> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_;  // Written once, before complete_ is set.
};

// Server side of a streaming RPC whose service is `fn(CallContext, const Req&, StreamObserver&)`.
template <typename Req, typename Event, typename Fn>
grpc::ServerWriteReactor<Event>* ServeStream(grpc::CallbackServerContext* ctx, const Req* req,
                                             Fn&& fn, const std::string* internal_token = nullptr) {
  rpc::CallContext cc = FromServerContext(*ctx);
  auto* reactor = new ServerStreamReactor<Event>(cc.cancellation);
  cc.flow = reactor->flow();
  if (internal_token != nullptr) {
    if (absl::Status s = CheckInternalToken(cc, *internal_token); !s.ok()) {
      reactor->OnComplete(s);
      return reactor;
    }
  }
  fn(std::move(cc), *req, *reactor);
  return reactor;
}

// Client side of a server-streaming RPC: forwards events to `observer` and completes it once.
// It owns the request; the observer must outlive OnComplete. Cancelling the CallContext cancels
// the call. While the CallContext's flow is full (the observer's consumer holds enough), it reads
// no further, so gRPC's flow control holds the peer's writes back. Deletes itself when done.
template <typename Req, typename Event>
class ClientStreamReactor final : public grpc::ClientReadReactor<Event> {
 public:
  ClientStreamReactor(const rpc::CallContext& cc, const std::string& internal_token, Req request,
                      rpc::StreamObserver<Event>& observer)
      : request_(std::move(request)),
        observer_(observer),
        cancellation_(cc.cancellation),
        flow_(cc.flow) {
    ApplyToClientContext(cc, internal_token, ctx_);
  }

  grpc::ClientContext* context() { return &ctx_; }
  const Req* request() const { return &request_; }

  // Call after the stub's async() method has bound this reactor.
  void Start() {
    cancel_id_ = cancellation_->OnCancel([this] { ctx_.TryCancel(); });
    // A read may be started from outside a reaction (when the flow is ready again): the hold keeps
    // the call from being done until the reads have ended.
    this->AddHold();
    this->StartRead(&event_);
    this->StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return this->RemoveHold();
    observer_.OnEvent(event_);
    if (flow_ != nullptr && flow_->Full()) {
      flow_->WhenReady([this] { this->StartRead(&event_); });
      return;
    }
    this->StartRead(&event_);
  }

  // The reactor (and its ClientContext) is gone before the observer hears of the end: a caller
  // that tears everything down on OnComplete cannot race with this thread still destroying it.
  void OnDone(const grpc::Status& s) override {
    cancellation_->RemoveCallback(cancel_id_);
    rpc::StreamObserver<Event>& observer = observer_;
    const absl::Status status = status::FromGrpcStatus(s);
    delete this;
    observer.OnComplete(status);
  }

 private:
  grpc::ClientContext ctx_;
  const Req request_;
  Event event_;
  rpc::StreamObserver<Event>& observer_;
  std::shared_ptr<rpc::Cancellation> cancellation_;
  const std::shared_ptr<rpc::FlowControl> flow_;
  int cancel_id_ = 0;
};

}  // namespace aimarket::grpcutil
