#pragma once

// The process's Prometheus registry and its text exposition. Each service builds its metric
// families once in its own <svc>_metrics.{h,cc} probe, against Registry().
//
//   auto& family = prometheus::BuildCounter().Name("aimarket_router_requests_total")
//                      .Help("Chat requests.").Register(metrics::Registry());

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
class Exposer;
}  // namespace prometheus

namespace aimarket::metrics {

// The process-wide registry; every family of every service lives here.
prometheus::Registry& Registry();

// The registry in the Prometheus text format (version 0.0.4).
std::string Serialize();

// Serves Registry() at http://<address>/metrics with prometheus-cpp's exposer.
class MetricsServer {
 public:
  // Returns UNAVAILABLE if the address cannot be bound. Port 0 picks a free port.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                std::shared_ptr<prometheus::Registry> registry, int port);
  // The exposer holds only a weak_ptr to what it serves; this keeps it alive.
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
};

}  // namespace aimarket::metrics
