// How long units of work take, from arrival to answer, by outcome: the
// histograms behind pieces_work_unit_seconds (see work_metrics.h).
//
// A unit's outcome is the one Stats counts it in (work_stats.h): new
// (computed), cached (from_cache), failed or cancelled, one of them per
// unit; a unit that waited for another's computation is observed in
// `waited` too. So each histogram's count equals its pieces_work_units_total
// sample once the units are over.
//
// Cost on the hot path: a unit answered from the cache as it arrives is
// counted in the first bucket, as 0 s, without reading the clock (its time is
// the cache lookup's, well under the first bound). Only a unit that claims or
// parks its key reads the clock, at arrival and at its answer; those go to
// the pool or wait anyway. Observations take no lock (sharded_histogram.h).
//
// "Answer" is the moment the unit's Result is queued for writing (or, for a
// session that ended first, the moment its outcome is known).
//
// Thread safety: every method may be called from any thread at once.
#ifndef PIECES_WORK_SERVICE_UNIT_TIMES_H_
#define PIECES_WORK_SERVICE_UNIT_TIMES_H_

#include <cstdint>
#include <optional>

#include "common/keyed_cache.h"
#include "common/metrics/sharded_histogram.h"

namespace pieces {

class UnitTimes {
 public:
  // The outcomes, as the label `outcome` spells them.
  enum Outcome { kNew, kCached, kWaited, kFailed, kCancelled, kOutcomes };
  static const char* OutcomeName(Outcome outcome);

  UnitTimes();

  // The clock units' arrivals are read with.
  static int64_t Now() { return ShardedHistogram::NowNanos(); }

  // A unit answered from the cache on arrival.
  void ObserveHitOnArrival() { histograms_[kCached]->ObserveZero(); }
  // A unit that arrived at `arrived` (Now) is over: with `outcome` from the
  // cache, or none when it was skipped (cancelled because its session
  // ended). Classified as MakeAnswer in session.cc counts it; returns the
  // outcome (new, cached, failed or cancelled) it was observed in.
  Outcome Observe(const std::optional<KeyedCache::Outcome>& outcome,
                  int64_t arrived);
  // A unit that arrived at `arrived` was cancelled by its client.
  void ObserveCancelled(int64_t arrived) {
    histograms_[kCancelled]->ObserveSince(arrived);
  }

  const ShardedHistogram& histogram(Outcome outcome) const {
    return *histograms_[outcome];
  }

 private:
  // Constant after construction (the histograms themselves are atomic).
  std::unique_ptr<ShardedHistogram> histograms_[kOutcomes];
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_UNIT_TIMES_H_
