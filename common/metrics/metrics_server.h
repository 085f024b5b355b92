// The HTTP endpoint Prometheus scrapes: GET /metrics on a port of its own
// (not the gRPC port), in Prometheus's text format, served by
// prometheus-cpp's pull Exposer (CivetWeb) on its own threads.
//
// Each scrape calls Collect on every registered collectable, on one of the
// server's threads. So a collectable, and everything it reads, must stay
// alive until the MetricsServer is destroyed (its destructor stops the
// threads, and waits for a scrape in progress).
//
// Thread safety: Start and the destructor from one thread; Collect runs on
// the server's threads, concurrently with the program's.
#ifndef PIECES_COMMON_METRICS_METRICS_SERVER_H_
#define PIECES_COMMON_METRICS_METRICS_SERVER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

namespace prometheus {
class Exposer;
}

namespace pieces {

class MetricsServer {
 public:
  // Listens on 0.0.0.0:`port` (not 0) and serves `collectables` at /metrics.
  // UNAVAILABLE, saying why, when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      int port,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port it listens on.
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                std::vector<std::shared_ptr<prometheus::Collectable>> held,
                int port);

  std::vector<std::shared_ptr<prometheus::Collectable>> held_;
  // Destroyed first: stops the scrapes before the collectables go.
  std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

}  // namespace pieces

#endif  // PIECES_COMMON_METRICS_METRICS_SERVER_H_
