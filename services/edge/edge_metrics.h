#pragma once

// The edge's Prometheus families, built once against metrics::Registry(): its requests and
// overhead (the handlers), its connections and caps (the HTTP server).

#include "absl/strings/string_view.h"

namespace prometheus {
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace aimarket::edge {

class EdgeMetrics {
 public:
  static EdgeMetrics& Get();
  // aimarket_edge_requests_total{route, code}. `route` must be a string literal (it keys a cache).
  void CountRequest(absl::string_view route, int http_status);
  // aimarket_edge_overhead_seconds: time spent inside aimarket, excluding the upstream.
  void ObserveOverhead(double seconds);

  // aimarket_edge_connections: HTTP connections open now.
  void ConnectionOpened();
  void ConnectionClosed();
  // aimarket_edge_connections_refused_total{reason}: refused with 503 at a resource cap.
  enum class Cap {
    kConnections,
    kConnectionsPerClient,
    kBufferedBodyBytes,
    kBufferedResponseBytes
  };
  void Refused(Cap cap);
  // aimarket_edge_accept_errors_total{reason}: fd_limit (EMFILE, ENFILE, ENOBUFS, ENOMEM) or other.
  void AcceptFailed(bool fd_limit);
  // aimarket_edge_send_timeouts_total: clients dropped for taking no byte for edge.send_timeout.
  void SendTimeout();

 private:
  EdgeMetrics();
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& overhead_;
  prometheus::Gauge& open_;
  prometheus::Family<prometheus::Counter>& refused_family_;
  prometheus::Counter* refused_[4];
  prometheus::Family<prometheus::Counter>& accept_family_;
  prometheus::Counter& accept_fd_limit_;
  prometheus::Counter& accept_other_;
  prometheus::Counter& send_timeouts_;
};

}  // namespace aimarket::edge
