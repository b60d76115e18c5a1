#include "services/edge/edge_metrics.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/metrics/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
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
                                                           0.005, 0.01, 0.025, 0.05, 0.1})),
      open_(prometheus::BuildGauge()
                .Name("aimarket_edge_connections")
                .Help("HTTP connections open now.")
                .Register(metrics::Registry())
                .Add({})),
      refused_family_(prometheus::BuildCounter()
                          .Name("aimarket_edge_connections_refused_total")
                          .Help("HTTP connections and requests refused with 503 at a resource cap, "
                                "by reason: max_connections, max_connections_per_client, "
                                "max_buffered_body_bytes, max_buffered_response_bytes.")
                          .Register(metrics::Registry())),
      refused_{&refused_family_.Add({{"reason", "max_connections"}}),
               &refused_family_.Add({{"reason", "max_connections_per_client"}}),
               &refused_family_.Add({{"reason", "max_buffered_body_bytes"}}),
               &refused_family_.Add({{"reason", "max_buffered_response_bytes"}})},
      accept_family_(prometheus::BuildCounter()
                         .Name("aimarket_edge_accept_errors_total")
                         .Help("Failed accepts of HTTP connections, by reason: fd_limit (EMFILE, "
                               "ENFILE, ENOBUFS, ENOMEM: accepting pauses and backs off) or other.")
                         .Register(metrics::Registry())),
      accept_fd_limit_(accept_family_.Add({{"reason", "fd_limit"}})),
      accept_other_(accept_family_.Add({{"reason", "other"}})),
      send_timeouts_(prometheus::BuildCounter()
                         .Name("aimarket_edge_send_timeouts_total")
                         .Help("Connections dropped because the client took no byte of its answer "
                               "for edge.send_timeout (its request is cancelled).")
                         .Register(metrics::Registry())
                         .Add({})) {}

void EdgeMetrics::ConnectionOpened() { open_.Increment(); }
void EdgeMetrics::ConnectionClosed() { open_.Decrement(); }
void EdgeMetrics::Refused(Cap cap) { refused_[static_cast<int>(cap)]->Increment(); }
void EdgeMetrics::AcceptFailed(bool fd_limit) {
  (fd_limit ? accept_fd_limit_ : accept_other_).Increment();
}
void EdgeMetrics::SendTimeout() { send_timeouts_.Increment(); }

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
