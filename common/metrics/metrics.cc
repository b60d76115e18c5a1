#include "common/metrics/metrics.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace aimarket::metrics {

prometheus::Registry& Registry() {
  static prometheus::Registry* registry = [] {
    auto* r = new prometheus::Registry();
    prometheus::BuildGauge()
        .Name("aimarket_build_info")
        .Help("Always 1; labelled with the aimarket version.")
        .Register(*r)
        .Add({{"version", "0.1.0"}})
        .Set(1);
    return r;
  }();
  return *registry;
}

std::string Serialize() {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(Registry().Collect());
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
    // A non-owning shared_ptr (the registry is process-wide and never destroyed) that the server
    // keeps, since the exposer only holds a weak_ptr.
    auto registry =
        std::shared_ptr<prometheus::Registry>(&Registry(), [](prometheus::Registry*) {});
    exposer->RegisterCollectable(registry);
    std::vector<int> ports = exposer->GetListeningPorts();
    const int port = ports.empty() ? 0 : ports.front();
    return std::unique_ptr<MetricsServer>(
        new MetricsServer(std::move(exposer), std::move(registry), port));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
}

MetricsServer::MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                             std::shared_ptr<prometheus::Registry> registry, int port)
    : registry_(std::move(registry)), exposer_(std::move(exposer)), port_(port) {}

MetricsServer::~MetricsServer() = default;

}  // namespace aimarket::metrics
