// A latency histogram cheap enough to observe once per unit of work.
//
// Observe adds to one of a few shards, picked per thread, with relaxed
// atomic increments: no lock, and threads that observe at once mostly touch
// different cache lines. Snapshot sums the shards, for a scrape.
//
// Example:
//   ShardedHistogram seconds(ShardedHistogram::UnitBounds());
//   const int64_t start = ShardedHistogram::NowNanos();
//   ... work ...
//   seconds.ObserveSince(start);
//
// Thread safety: every method may be called from any thread at once. A
// Snapshot taken while others observe is not taken at one instant: each
// bucket is exact, and its count is the sum of its buckets, but the sum of
// the times may lag or lead the counts by the observations in progress.
#ifndef PIECES_COMMON_METRICS_SHARDED_HISTOGRAM_H_
#define PIECES_COMMON_METRICS_SHARDED_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "prometheus/client_metric.h"

namespace pieces {

class ShardedHistogram {
 public:
  // The most finite bucket bounds.
  static constexpr size_t kMaxBounds = 24;

  // `bounds_seconds`: the buckets' upper bounds, increasing, at most
  // kMaxBounds; a +Inf bucket follows them.
  explicit ShardedHistogram(const std::vector<double>& bounds_seconds);
  ShardedHistogram(const ShardedHistogram&) = delete;
  ShardedHistogram& operator=(const ShardedHistogram&) = delete;

  // Bounds for one unit of work: 10 us to 10 s.
  static std::vector<double> UnitBounds();
  // Bounds for one call: 100 us to 60 s.
  static std::vector<double> CallBounds();

  // A monotonic clock, in nanoseconds.
  static int64_t NowNanos();

  // Counts one observation of `nanos` (negative counts as 0).
  void Observe(int64_t nanos);
  // Counts one observation from `start_nanos` (NowNanos) until now.
  void ObserveSince(int64_t start_nanos) { Observe(NowNanos() - start_nanos); }
  // Counts one observation of 0 s without reading the clock.
  void ObserveZero();

  // The sum over the shards, as prometheus-cpp writes it (cumulative buckets,
  // the last one +Inf).
  prometheus::ClientMetric::Histogram Snapshot() const;

 private:
  static constexpr size_t kShards = 8;
  // One shard per cache line (or a few): the counts of each bucket, the +Inf
  // one last, and the sum of the times.
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kMaxBounds + 1> counts{};
    std::atomic<uint64_t> sum_nanos{0};
  };

  // The shard the calling thread observes into.
  static size_t ThisThreadShard();

  // Constant after construction.
  std::vector<int64_t> bounds_nanos_;
  std::vector<double> bounds_seconds_;

  std::array<Shard, kShards> shards_;
};

}  // namespace pieces

#endif  // PIECES_COMMON_METRICS_SHARDED_HISTOGRAM_H_
