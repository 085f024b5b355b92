#include "work_service/work_metrics.h"

#include <atomic>

#include "common/metrics/metric_families.h"

namespace pieces {

std::vector<prometheus::MetricFamily> WorkMetrics::Collect() const {
  using prometheus::MetricType;
  constexpr auto kOrder = std::memory_order_relaxed;
  const WorkStats& s = *stats_;
  std::vector<prometheus::MetricFamily> out;

  prometheus::MetricFamily units = MakeFamily(
      "pieces_work_units_total",
      "Units of work answered, by outcome (new, cached, failed and cancelled "
      "count each unit once; waited counts again those that waited for "
      "another unit's computation)",
      MetricType::Counter);
  AddSample(units, s.computed.load(kOrder), {{"outcome", "new"}});
  AddSample(units, s.from_cache.load(kOrder), {{"outcome", "cached"}});
  AddSample(units, s.waited.load(kOrder), {{"outcome", "waited"}});
  AddSample(units, s.failed.load(kOrder), {{"outcome", "failed"}});
  AddSample(units, s.cancelled.load(kOrder), {{"outcome", "cancelled"}});
  out.push_back(std::move(units));

  prometheus::MetricFamily seconds = MakeFamily(
      "pieces_work_unit_seconds",
      "Time of a unit from its arrival to its answer, by outcome (a unit "
      "answered from the cache on arrival counts as 0 s)",
      MetricType::Histogram);
  for (int i = 0; i < UnitTimes::kOutcomes; ++i) {
    const auto outcome = static_cast<UnitTimes::Outcome>(i);
    AddHistogram(seconds, unit_times_->histogram(outcome).Snapshot(),
                 {{"outcome", UnitTimes::OutcomeName(outcome)}});
  }
  out.push_back(std::move(seconds));

  auto one = [&out](const char* name, const char* help, MetricType type,
                    double value) {
    prometheus::MetricFamily family = MakeFamily(name, help, type);
    AddSample(family, value);
    out.push_back(std::move(family));
  };
  one("pieces_work_sessions_active", "Process sessions open now",
      MetricType::Gauge, s.sessions_active.load(kOrder));
  one("pieces_work_sessions_total", "Process sessions accepted",
      MetricType::Counter, s.sessions_total.load(kOrder));
  one("pieces_work_sessions_refused_total",
      "Process sessions refused (--max_sessions reached)", MetricType::Counter,
      s.sessions_refused.load(kOrder));
  one("pieces_work_in_flight", "Units received and not yet answered",
      MetricType::Gauge, s.in_flight.load(kOrder));
  one("pieces_work_cache_entries", "Keys in the cache", MetricType::Gauge,
      cache_->size());
  one("pieces_work_cache_evictions_total",
      "Keys evicted from the cache (--cache_capacity)", MetricType::Counter,
      cache_->evictions());
  one("pieces_work_keys_in_progress", "Keys being computed now",
      MetricType::Gauge, cache_->computing());
  one("pieces_work_waiters",
      "Units waiting for another unit's computation of their key",
      MetricType::Gauge, cache_->waiting());
  one("pieces_work_threads", "Threads of the work pool", MetricType::Gauge,
      pool_->num_threads());
  return out;
}

}  // namespace pieces
