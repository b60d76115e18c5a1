#pragma once

// An asynchronous HTTP/1.1 server on Boost.Beast: keep-alive, a configurable number of I/O threads,
// a request body limit (413), header and idle timeouts, and a graceful drain. Beast stays inside
// http_server.cc.
//
//   AIM_ASSIGN_OR_RETURN(auto server, HttpServer::Start(options, handler));
//   ...
//   server->Shutdown(absl::Seconds(10));  // stop accepting, let in-flight requests finish

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/edge/http.h"

namespace aimarket::edge {

class HttpServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";
    int io_threads = 1;
    int64_t max_body_bytes = 8 << 20;
    // Time allowed for a new connection to send its first request's headers.
    absl::Duration header_timeout = absl::Seconds(10);
    // Time a keep-alive connection may wait for its next request's headers.
    absl::Duration idle_timeout = absl::Seconds(60);
    // Time allowed for a whole request body, from the end of its headers.
    absl::Duration body_timeout = absl::Seconds(30);
    // Open connections in all and from one client address (0: no cap). A connection past a cap is
    // answered 503 and closed at once; the others go on.
    int max_connections = 10000;
    int max_connections_per_client = 1000;
    // Bytes that request bodies still being received may hold in all (a body counts for its
    // Content-Length, a chunked one for max_body_bytes); a request that would pass it gets 503.
    int64_t max_buffered_body_bytes = int64_t{256} << 20;
    // Backpressure on answers (ResponseWriter::Flow): bytes written for one connection and not yet
    // taken by its client, and for all connections together; past either, the writer's producer
    // is held back (0: no cap), and past the second new requests are answered 503.
    int64_t max_response_buffer_bytes = int64_t{1} << 20;
    int64_t max_buffered_response_bytes = int64_t{256} << 20;
    // A client that takes no byte of its answer for this long (while there is something to send)
    // is disconnected (its request is told, as when a client goes away, and cancels what it
    // started upstream).
    absl::Duration send_timeout = absl::Seconds(30);
    // Written to every stream still open when the drain deadline passes, before the stream's end
    // (the edge's SSE error event); a request not yet answered then gets 503.
    std::string stream_deadline_chunk = {};
  };

  // UNAVAILABLE if the address cannot be bound. `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                           HttpHandler handler);
  ~HttpServer();

  int port() const;
  // Drains: requests in flight are answered (with "Connection: close"), and new connections are
  // still accepted and served the same way while any remain, up to `deadline` (so /healthz answers
  // and a load balancer that still sends traffic is not refused). Once none remain, or at the
  // deadline, it stops accepting; at the deadline every open stream gets stream_deadline_chunk and
  // its end, and a request not yet answered a 503. Then it closes every connection and stops the
  // I/O threads. Idempotent.
  // TODO(aimarket): a ResponseWriter still held by a handler after the server is destroyed must
  // not post to the dead io_context; the streaming edge (next issue) makes writers check a
  // shared liveness flag.
  void Shutdown(absl::Duration deadline);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimarket::edge
