#include "common/metrics/sharded_histogram.h"

#include <chrono>
#include <cmath>
#include <limits>

namespace pieces {

ShardedHistogram::ShardedHistogram(const std::vector<double>& bounds_seconds)
    : bounds_seconds_(bounds_seconds) {
  if (bounds_seconds_.size() > kMaxBounds) bounds_seconds_.resize(kMaxBounds);
  bounds_nanos_.reserve(bounds_seconds_.size());
  for (double bound : bounds_seconds_) {
    bounds_nanos_.push_back(static_cast<int64_t>(std::llround(bound * 1e9)));
  }
}

std::vector<double> ShardedHistogram::UnitBounds() {
  return {1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
}

std::vector<double> ShardedHistogram::CallBounds() {
  return {1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1,
          0.25, 0.5,  1,    2.5,    5,    10,   30,    60};
}

int64_t ShardedHistogram::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

size_t ShardedHistogram::ThisThreadShard() {
  // Threads take the shards in turn as they first observe: a pool's threads
  // spread over them, whichever histogram they use.
  static std::atomic<size_t> next{0};
  thread_local const size_t shard =
      next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

void ShardedHistogram::Observe(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  size_t bucket = 0;
  while (bucket < bounds_nanos_.size() && nanos > bounds_nanos_[bucket]) {
    ++bucket;
  }
  Shard& shard = shards_[ThisThreadShard()];
  shard.counts[bucket].fetch_add(1, std::memory_order_relaxed);
  shard.sum_nanos.fetch_add(static_cast<uint64_t>(nanos),
                            std::memory_order_relaxed);
}

void ShardedHistogram::ObserveZero() {
  shards_[ThisThreadShard()].counts[0].fetch_add(1, std::memory_order_relaxed);
}

prometheus::ClientMetric::Histogram ShardedHistogram::Snapshot() const {
  prometheus::ClientMetric::Histogram out;
  const size_t buckets = bounds_nanos_.size() + 1;
  std::vector<uint64_t> counts(buckets, 0);
  uint64_t sum_nanos = 0;
  for (const Shard& shard : shards_) {
    for (size_t i = 0; i < buckets; ++i) {
      counts[i] += shard.counts[i].load(std::memory_order_relaxed);
    }
    sum_nanos += shard.sum_nanos.load(std::memory_order_relaxed);
  }
  uint64_t cumulative = 0;
  out.bucket.resize(buckets);
  for (size_t i = 0; i < buckets; ++i) {
    cumulative += counts[i];
    out.bucket[i].cumulative_count = cumulative;
    out.bucket[i].upper_bound = i < bounds_seconds_.size()
                                    ? bounds_seconds_[i]
                                    : std::numeric_limits<double>::infinity();
  }
  out.sample_count = cumulative;
  out.sample_sum = static_cast<double>(sum_nanos) / 1e9;
  return out;
}

}  // namespace pieces
