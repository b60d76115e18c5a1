#pragma once

// Outbound HTTP for provider adapters. One interface so that adapters never see libcurl, and tests
// could inject another transport.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace aimarket::provider {

struct HttpCallRequest {
  std::string method = "POST";
  std::string url;
  // "Name: value" lines.
  std::vector<std::string> headers;
  std::string body;
  absl::Duration connect_timeout = absl::Seconds(5);
  // Until the first byte of the response body (headers alone do not count: a streaming upstream
  // sends them at once, and its first event only when the model has produced something).
  absl::Duration first_byte_timeout = absl::Seconds(60);
  // Longest silence between two reads of the body.
  absl::Duration idle_timeout = absl::Seconds(60);
  // For fetching what a client named (remote images): https only, no redirects, a fresh
  // connection never pooled, and only to a public address (not loopback, private, link-local,
  // CGNAT, multicast or unspecified, v4 or v6), checked on the resolved address itself so that
  // DNS cannot be used to reach inside; a body larger than max_body_bytes and a call longer than
  // total_timeout fail.
  bool public_https_only = false;
  int64_t max_body_bytes = 0;                           // 0: no limit.
  absl::Duration total_timeout = absl::ZeroDuration();  // 0: none.
};

// Whether `addr` (a struct sockaddr of family AF_INET or AF_INET6) is a public unicast address.
bool IsPublicAddress(const void* addr);

// Receives one call's response. The methods are called in order, never concurrently, on the
// thread of the loop that runs the call (see Start): OnHeaders once (unless the call fails
// before), OnData for each piece of the body, OnComplete exactly once, last, and never from
// within Start. They must not block.
class HttpCallHandler {
 public:
  virtual ~HttpCallHandler() = default;
  // `headers` names are lower case.
  virtual void OnHeaders(int status,
                         const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  virtual void OnData(absl::string_view data) = 0;
  // OK when the whole body arrived; UNAVAILABLE (reason UPSTREAM_UNREACHABLE or
  // UPSTREAM_DISCONNECTED) on a connection failure, DEADLINE_EXCEEDED (UPSTREAM_TIMEOUT) on a
  // timeout, CANCELLED after Cancel().
  virtual void OnComplete(const absl::Status& status) = 0;
};

// A call in flight. Cancel() aborts it (closing its connection); OnComplete follows with CANCELLED
// unless the call had completed already.
class HttpCall {
 public:
  virtual ~HttpCall() = default;
  virtual void Cancel() = 0;
  // Backpressure: from within the handler's OnData, asks for no more of the body until Resume().
  // The transfer stops reading (one more piece of at most 16 KiB may be held by the client), so
  // the upstream is held back by TCP (HTTP/1.1) or its stream's flow control (HTTP/2). A paused
  // call is exempt from the silence timeout.
  virtual void Pause() = 0;
  // Reads on; from any thread. A no-op if the call is not paused or has completed.
  virtual void Resume() = 0;
};

// Thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // `handler` must stay alive until its OnComplete returns. Called on a thread that runs an
  // event loop of its own (io::CurrentLoop(): the edge's I/O threads), the call runs on that
  // loop, so the request never changes threads; from any other thread, on the client's thread.
  virtual std::shared_ptr<HttpCall> Start(HttpCallRequest request, HttpCallHandler& handler) = 0;
};

// libcurl's multi interface, one multi handle per event loop: connection reuse across calls, HTTP/2
// when the server offers it (multiplexed), TLS verification, the proxy environment variables
// (https_proxy, no_proxy, ...), and the three timeouts.
std::unique_ptr<HttpClient> NewCurlHttpClient();

}  // namespace aimarket::provider
