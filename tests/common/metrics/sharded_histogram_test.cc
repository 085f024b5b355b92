#include "common/metrics/sharded_histogram.h"

#include <cmath>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace pieces {
namespace {

TEST(ShardedHistogramTest, EachObservationLandsInTheFirstBucketThatHoldsIt) {
  ShardedHistogram histogram({0.001, 0.01});
  histogram.Observe(500'000);     // 0.5 ms
  histogram.Observe(1'000'000);   // 1 ms: on the bound, in its bucket
  histogram.Observe(2'000'000);   // 2 ms
  histogram.Observe(20'000'000);  // 20 ms: +Inf
  histogram.ObserveZero();
  const prometheus::ClientMetric::Histogram h = histogram.Snapshot();
  ASSERT_EQ(h.bucket.size(), 3u);
  EXPECT_EQ(h.bucket[0].upper_bound, 0.001);
  EXPECT_EQ(h.bucket[0].cumulative_count, 3u);
  EXPECT_EQ(h.bucket[1].upper_bound, 0.01);
  EXPECT_EQ(h.bucket[1].cumulative_count, 4u);
  EXPECT_TRUE(std::isinf(h.bucket[2].upper_bound));
  EXPECT_EQ(h.bucket[2].cumulative_count, 5u);
  EXPECT_EQ(h.sample_count, 5u);
  EXPECT_NEAR(h.sample_sum, 0.0235, 1e-12);
}

TEST(ShardedHistogramTest, NegativeTimesCountAsZero) {
  ShardedHistogram histogram({0.001});
  histogram.Observe(-5);
  const prometheus::ClientMetric::Histogram h = histogram.Snapshot();
  EXPECT_EQ(h.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(h.sample_sum, 0);
}

TEST(ShardedHistogramTest, ConcurrentObservationsAreAllCounted) {
  ShardedHistogram histogram(ShardedHistogram::UnitBounds());
  constexpr int kThreads = 12;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 0; i < kEach; ++i) histogram.Observe(1000 * (t + 1));
    });
  }
  // A scrape in the middle sees a consistent count.
  const prometheus::ClientMetric::Histogram during = histogram.Snapshot();
  EXPECT_EQ(during.sample_count, during.bucket.back().cumulative_count);
  for (std::thread& thread : threads) thread.join();
  const prometheus::ClientMetric::Histogram h = histogram.Snapshot();
  EXPECT_EQ(h.sample_count, static_cast<uint64_t>(kThreads * kEach));
  // 1 to 12 us each: 1..10 us under the first bound (10 us), 11 and 12 us in
  // the second.
  EXPECT_EQ(h.bucket[0].cumulative_count, 10u * kEach);
  EXPECT_NEAR(h.sample_sum, 78e-6 * kEach, 1e-9);
}

}  // namespace
}  // namespace pieces
