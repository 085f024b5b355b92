// The counters behind WorkService.GetStats, updated lock-free from any thread.
#ifndef PIECES_WORK_SERVICE_WORK_STATS_H_
#define PIECES_WORK_SERVICE_WORK_STATS_H_

#include <atomic>
#include <cstdint>

#include "pieces/v1/work_service.pb.h"

namespace pieces {

// Each field means what the Stats field of the same name says (see
// proto/pieces/v1/work_service.proto). Relaxed atomics: each counter is exact,
// but a snapshot of several is not taken at one instant.
//
// Each received unit is counted once in its end: computed, from_cache, failed
// or cancelled (a Cancel counts a unit when it answers it; a unit left by a
// session that ended counts when its pool task skips it). So once every unit
// is over, work_received = computed + from_cache + failed + cancelled. A unit
// that waited is also counted in `waited` (not a cancelled one).
struct WorkStats {
  std::atomic<uint64_t> sessions_active{0};
  std::atomic<uint64_t> sessions_total{0};
  std::atomic<uint64_t> work_received{0};
  std::atomic<uint64_t> computed{0};
  std::atomic<uint64_t> from_cache{0};
  std::atomic<uint64_t> waited{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> cancelled{0};
  std::atomic<uint64_t> sessions_refused{0};

  // Copies the counters into `out` (the cache's and the pool's figures are
  // the caller's to fill).
  void CopyTo(v1::Stats* out) const {
    constexpr auto kOrder = std::memory_order_relaxed;
    out->set_sessions_active(sessions_active.load(kOrder));
    out->set_sessions_total(sessions_total.load(kOrder));
    out->set_work_received(work_received.load(kOrder));
    out->set_computed(computed.load(kOrder));
    out->set_from_cache(from_cache.load(kOrder));
    out->set_waited(waited.load(kOrder));
    out->set_failed(failed.load(kOrder));
    out->set_in_flight(in_flight.load(kOrder));
    out->set_cancelled(cancelled.load(kOrder));
    out->set_sessions_refused(sessions_refused.load(kOrder));
  }
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_WORK_STATS_H_
