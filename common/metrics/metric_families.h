// Building Prometheus metric families at scrape time, from counters the
// services keep anyway (a prometheus::Collectable's Collect), so that the
// hot path counts nothing twice.
//
// Example (in a Collect):
//   prometheus::MetricFamily units = MakeFamily(
//       "pieces_work_units_total", "Units answered, by outcome",
//       prometheus::MetricType::Counter);
//   AddSample(units, stats.computed.load(), {{"outcome", "new"}});
//
// Thread safety: the functions touch only their arguments.
#ifndef PIECES_COMMON_METRICS_METRIC_FAMILIES_H_
#define PIECES_COMMON_METRICS_METRIC_FAMILIES_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace pieces {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A family with no samples yet.
prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);

// Adds one sample of a Counter or Gauge family.
void AddSample(prometheus::MetricFamily& family, double value,
               const MetricLabels& labels = {});

// Adds one histogram of a Histogram family.
void AddHistogram(prometheus::MetricFamily& family,
                  prometheus::ClientMetric::Histogram histogram,
                  const MetricLabels& labels = {});

// A Collectable that calls a function at each scrape.
class FunctionCollectable final : public prometheus::Collectable {
 public:
  using Collect_ = std::function<std::vector<prometheus::MetricFamily>()>;
  explicit FunctionCollectable(Collect_ collect)
      : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return collect_();
  }

 private:
  const Collect_ collect_;
};

}  // namespace pieces

#endif  // PIECES_COMMON_METRICS_METRIC_FAMILIES_H_
