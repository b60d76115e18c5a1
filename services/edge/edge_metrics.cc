#include "services/edge/edge_metrics.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/metrics/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace aimarket::edge {

EdgeMetrics& EdgeMetrics::Get() {
  static EdgeMetrics* m = new EdgeMetrics();
  return *m;
}

EdgeMetrics::EdgeMetrics()
    : requests_(prometheus::BuildCounter()
                    .Name("aimarket_edge_requests_total")
                    .Help("HTTP requests answered by the edge, by route and status code.")
                    .Register(metrics::Registry())),
      overhead_(
          prometheus::BuildHistogram()
              .Name("aimarket_edge_overhead_seconds")
              .Help("Time spent inside aimarket per request, excluding the upstream provider.")
              .Register(metrics::Registry())
              .Add({},
                   prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                           0.005, 0.01, 0.025, 0.05, 0.1})) {}

void EdgeMetrics::CountRequest(absl::string_view route, int http_status) {
  // Family::Add builds a label map and takes the family's lock; each I/O thread remembers the
  // counters it has used instead, so a request costs one hash lookup and an increment.
  thread_local absl::flat_hash_map<std::pair<absl::string_view, int>, prometheus::Counter*>
      counters;
  prometheus::Counter*& c = counters[{route, http_status}];
  if (c == nullptr)
    c = &requests_.Add({{"route", std::string(route)}, {"code", std::to_string(http_status)}});
  c->Increment();
}

void EdgeMetrics::ObserveOverhead(double seconds) { overhead_.Observe(seconds); }

}  // namespace aimarket::edge
