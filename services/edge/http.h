#pragma once

// The edge's view of HTTP, free of Beast: a parsed request, a complete response, and the writer
// a handler answers through (from any thread, exactly once).

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/rpc/flow_control.h"

namespace aimarket::edge {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // "/v1/models?x=1"
  // Header names in lower case, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;  // "ip:port" of the client.

  // The first header named `name` (lower case), or "".
  absl::string_view Header(absl::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return {};
  }
  // The target without its query string.
  absl::string_view Path() const {
    absl::string_view t = target;
    return t.substr(0, t.find('?'));
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
};

// A percent-encoded path segment or query value, decoded ("%2F" -> "/"); a malformed escape stays
// as it is. The result is bytes: callers check what they accept (UTF-8, a character set).
std::string PercentDecode(absl::string_view s);

// How a handler answers, from any thread. Exactly one of: Send() once, or StartStream() followed by
// Write()s and End(). A writer dropped without a response answers 500 (or ends a started stream).
// Thread-safe.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // A complete response (Content-Length).
  virtual void Send(HttpResponse response) = 0;
  // Starts a chunked response with `head`'s status, headers and content type; its body is ignored.
  virtual void StartStream(HttpResponse head) = 0;
  // Appends to the stream. Returns false once the client is gone (the data is dropped).
  virtual bool Write(std::string data) = 0;
  // Ends the stream.
  virtual void End() = 0;
  // Drops the connection without completing the response (a stream then ends without its last
  // chunk): for tests and mock upstreams that simulate a failure.
  virtual void Abort() = 0;
  // Runs `fn` once, on an I/O thread, if the client disconnects before the response is complete
  // (at once if it already has). It must be short and must not call back into the writer.
  virtual void OnDisconnect(std::function<void()> fn) = 0;
  // The backpressure of this response, for whoever produces what Write() sends (put into the
  // call's CallContext): full while the client has not taken what was written up to the server's
  // caps; the producer then waits for WhenReady. Write() itself never refuses for fullness.
  virtual std::shared_ptr<rpc::FlowControl> Flow() = 0;
};

// Called on an I/O thread for every complete request. It may answer at once or later from any
// thread, but must not block for long: it runs on one of the server's few I/O threads.
using HttpHandler =
    std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

}  // namespace aimarket::edge
