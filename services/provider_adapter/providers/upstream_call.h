#pragma once

// One upstream HTTP call of a provider adapter, whatever the wire format: it frames the response
// (SSE events, NDJSON lines, or one body), hands each piece to the adapter's Translator, and
// streams the OpenAI-shaped events the translator emits to the caller. Transport failures,
// timeouts, cancellation and the call's lifetime are handled here once for every adapter.
//
//   StartUpstreamCall(http, std::move(request), ctx, std::make_unique<MyTranslator>(...),
//                     Framing::kSse, req.stream(), observer);

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "aimarket/common/v1/chat.pb.h"
#include "common/rpc/call_context.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {

// How a streamed 2xx body is cut into pieces for Translator::OnEvent.
enum class Framing {
  kSse,     // text/event-stream: events with an optional name (see SseParser)
  kNdjson,  // one JSON object per line (Ollama)
};

// Where a translator puts its OpenAI-shaped events.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(common::v1::ChatEvent event) = 0;
};

// The per-call half of an adapter: turns the upstream's answer into OpenAI's. Called on one
// thread, in order. A non-OK status from OnEvent ends the call with it (later events are dropped).
class Translator {
 public:
  // `provider` names the upstream in errors ("anthropic", or an OpenAI-format server's config
  // name).
  explicit Translator(std::string provider) : provider_(std::move(provider)) {}
  virtual ~Translator() = default;
  // Streamed 2xx: one SSE event (`name` is its `event:` field, maybe empty) or one NDJSON line.
  virtual absl::Status OnEvent(absl::string_view name, absl::string_view data, EventSink& out) = 0;
  // Streamed 2xx, the body ended cleanly. `unframed` holds lines outside the SSE grammar (a bare
  // JSON error object some providers append to a stream). The result is the call's result: an
  // error if the stream ended before its end event.
  virtual absl::Status OnEnd(absl::string_view unframed, EventSink& out) = 0;
  // Non-streamed 2xx: the whole body.
  virtual absl::Status OnBody(std::string body, EventSink& out) = 0;
  // Any non-2xx answer, as the status to end the call with: by default the upstream error table
  // (UpstreamFailure) with the message of the error body in any shape ErrorMessage reads.
  virtual absl::Status OnHttpError(int http_status, absl::string_view body,
                                   absl::string_view retry_after);

 protected:
  const std::string& provider() const { return provider_; }

 private:
  const std::string provider_;
};

// Starts the call. `observer` gets the events and exactly one OnComplete; it must outlive it.
// Cancelling ctx.cancellation closes the upstream connection.
void StartUpstreamCall(HttpClient& http, HttpCallRequest request, const rpc::CallContext& ctx,
                       std::unique_ptr<Translator> translator, Framing framing, bool stream,
                       rpc::StreamObserver<common::v1::ChatEvent>& observer);

// A whole upstream answer, for calls that need no streaming (embeddings, health checks).
struct UpstreamAnswer {
  int status = 0;
  std::string body;
  std::string retry_after;
  absl::Duration elapsed;  // From the start of the call to the end of the body.
};

// Makes the call and waits for the whole answer. A transport failure or timeout is the status;
// any HTTP status is an answer. FAILED_PRECONDITION on an event-loop thread (it would wait for
// itself).
absl::StatusOr<UpstreamAnswer> CallUpstream(HttpClient& http, HttpCallRequest request,
                                            const rpc::CallContext& ctx);
// Several at once; the answers in the order of the requests.
std::vector<absl::StatusOr<UpstreamAnswer>> CallUpstreamAll(HttpClient& http,
                                                            std::vector<HttpCallRequest> requests,
                                                            const rpc::CallContext& ctx);

}  // namespace aimarket::provider
