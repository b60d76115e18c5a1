#pragma once

// The edge's Prometheus families, built once against metrics::Registry().

#include "absl/strings/string_view.h"

namespace prometheus {
template <typename T>
class Family;
class Counter;
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

 private:
  EdgeMetrics();
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& overhead_;
};

}  // namespace aimarket::edge
