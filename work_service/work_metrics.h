// work_service's metrics, for /metrics (common/metrics/metrics_server.h).
//
// Each scrape reads the counters the service keeps anyway (WorkStats, the
// cache's and the pool's figures, UnitTimes): nothing is counted twice on
// the hot path, and every counter is the GetStats field it names:
//
//   pieces_work_units_total{outcome="new"}        Stats.computed
//   pieces_work_units_total{outcome="cached"}     Stats.from_cache
//   pieces_work_units_total{outcome="waited"}     Stats.waited
//   pieces_work_units_total{outcome="failed"}     Stats.failed
//   pieces_work_units_total{outcome="cancelled"}  Stats.cancelled
//   pieces_work_unit_seconds{outcome}             (unit_times.h)
//   pieces_work_sessions_active                   Stats.sessions_active
//   pieces_work_sessions_total                    Stats.sessions_total
//   pieces_work_sessions_refused_total            Stats.sessions_refused
//   pieces_work_in_flight                         Stats.in_flight
//   pieces_work_cache_entries                     Stats.cache_entries
//   pieces_work_cache_evictions_total             Stats.cache_evictions
//   pieces_work_keys_in_progress                  keys being computed
//   pieces_work_waiters                           units parked on them
//   pieces_work_threads                           Stats.threads
//
// new, cached, failed and cancelled count each unit once (their sum is
// Stats.work_received once every unit is over); `waited` counts again the
// units that waited for another unit's computation of their key.
//
// Thread safety: Collect runs on the metrics server's threads; everything it
// reads may be read from any thread. The objects it points to must outlive
// it (see metrics_server.h).
#ifndef PIECES_WORK_SERVICE_WORK_METRICS_H_
#define PIECES_WORK_SERVICE_WORK_METRICS_H_

#include <vector>

#include "common/keyed_cache.h"
#include "common/thread_pool.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "work_service/unit_times.h"
#include "work_service/work_stats.h"

namespace pieces {

class WorkMetrics final : public prometheus::Collectable {
 public:
  WorkMetrics(const WorkStats* stats, const KeyedCache* cache,
              const ThreadPool* pool, const UnitTimes* unit_times)
      : stats_(stats), cache_(cache), pool_(pool), unit_times_(unit_times) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // Constant after construction.
  const WorkStats* const stats_;
  const KeyedCache* const cache_;
  const ThreadPool* const pool_;
  const UnitTimes* const unit_times_;
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_WORK_METRICS_H_
