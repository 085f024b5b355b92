#include "common/metrics/metric_families.h"

namespace pieces {
namespace {

std::vector<prometheus::ClientMetric::Label> ToLabels(
    const MetricLabels& labels) {
  std::vector<prometheus::ClientMetric::Label> out;
  out.reserve(labels.size());
  for (const auto& [name, value] : labels) out.push_back({name, value});
  return out;
}

}  // namespace

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddSample(prometheus::MetricFamily& family, double value,
               const MetricLabels& labels) {
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  metric.label = ToLabels(labels);
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else if (family.type == prometheus::MetricType::Gauge) {
    metric.gauge.value = value;
  } else {
    metric.untyped.value = value;
  }
}

void AddHistogram(prometheus::MetricFamily& family,
                  prometheus::ClientMetric::Histogram histogram,
                  const MetricLabels& labels) {
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  metric.label = ToLabels(labels);
  metric.histogram = std::move(histogram);
}

}  // namespace pieces
