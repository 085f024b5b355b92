#include "common/metrics/metrics_server.h"

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"

namespace pieces {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    int port,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  if (port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics port ", port, " is not a TCP port"));
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // CivetWeb throws when it cannot listen; no exception leaves this module.
    exposer = std::make_unique<prometheus::Exposer>(
        absl::StrCat("0.0.0.0:", port), /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve /metrics on port ", port,
                     " (--metrics_port): ", e.what()));
  }
  for (const auto& collectable : collectables) {
    exposer->RegisterCollectable(collectable);
  }
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), std::move(collectables), port));
}

MetricsServer::MetricsServer(
    std::unique_ptr<prometheus::Exposer> exposer,
    std::vector<std::shared_ptr<prometheus::Collectable>> held, int port)
    : held_(std::move(held)), exposer_(std::move(exposer)), port_(port) {}

MetricsServer::~MetricsServer() = default;

}  // namespace pieces
