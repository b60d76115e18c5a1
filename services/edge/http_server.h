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
    // Time a keep-alive connection may wait for its next request, and the longest pause while a
    // request body is being received.
    absl::Duration idle_timeout = absl::Seconds(60);
  };

  // UNAVAILABLE if the address cannot be bound. `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options, HttpHandler handler);
  ~HttpServer();

  int port() const;
  // Stops accepting, answers requests that are in flight (with "Connection: close"), waits up to
  // `deadline` for them, then closes every connection and stops the I/O threads. Idempotent.
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
