#include "common/keyed_cache.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/keyed_cache_test_peer.h"

namespace pieces {
namespace {

using ::testing::HasSubstr;

// How long a test waits for something that should happen promptly. Generous,
// so that a slow (e.g. sanitized) build never fails a correct cache; a wrong
// cache makes the awaited condition never hold, and the test fails after it.
constexpr absl::Duration kTimeout = absl::Seconds(30);

// A compute function that blocks until released, counting its calls. Once
// released, it returns what `then` returns (or throws what `then` throws).
class BlockingCompute {
 public:
  explicit BlockingCompute(
      std::function<absl::StatusOr<uint64_t>(uint64_t)> then)
      : then_(std::move(then)) {}

  absl::StatusOr<uint64_t> operator()(uint64_t key) {
    if (calls_.fetch_add(1) == 0) started_.Notify();
    if (!release_.WaitForNotificationWithTimeout(kTimeout)) {
      return absl::DeadlineExceededError("compute was never released");
    }
    return then_(key);
  }

  // Blocks until the first call has started; returns whether it did.
  bool AwaitStarted() {
    return started_.WaitForNotificationWithTimeout(kTimeout);
  }
  void Release() { release_.Notify(); }
  int calls() const { return calls_.load(); }

 private:
  std::function<absl::StatusOr<uint64_t>(uint64_t)> then_;
  std::atomic<int> calls_{0};
  absl::Notification started_;
  absl::Notification release_;
};

// Runs `n` threads that each call cache.GetOrCompute(key, compute) once.
// Join() waits for them and returns their outcomes.
class Callers {
 public:
  Callers(KeyedCache& cache, uint64_t key, BlockingCompute& compute, int n)
      : outcomes_(n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, &cache, key, &compute, i] {
        outcomes_[i] = cache.GetOrCompute(
            key, [&compute](uint64_t k) { return compute(k); });
        finished_.fetch_add(1);
      });
    }
  }
  ~Callers() { Join(); }

  int finished() const { return finished_.load(); }

  const std::vector<KeyedCache::Outcome>& Join() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    return outcomes_;
  }

 private:
  std::vector<KeyedCache::Outcome> outcomes_;
  std::atomic<int> finished_{0};
  std::vector<std::thread> threads_;
};

int CountComputed(const std::vector<KeyedCache::Outcome>& outcomes) {
  int n = 0;
  for (const KeyedCache::Outcome& o : outcomes) n += o.computed ? 1 : 0;
  return n;
}

int CountWaited(const std::vector<KeyedCache::Outcome>& outcomes) {
  int n = 0;
  for (const KeyedCache::Outcome& o : outcomes) n += o.waited ? 1 : 0;
  return n;
}

TEST(KeyedCacheTest, FirstCallComputesSecondIsServedFromCache) {
  KeyedCache cache;
  int calls = 0;
  auto compute = [&calls](uint64_t key) -> absl::StatusOr<uint64_t> {
    ++calls;
    return key * 10 + 1;
  };

  KeyedCache::Outcome first = cache.GetOrCompute(7, compute);
  ASSERT_TRUE(first.value.ok()) << first.value.status();
  EXPECT_EQ(*first.value, 71u);
  EXPECT_TRUE(first.computed);
  EXPECT_FALSE(first.waited);

  KeyedCache::Outcome second = cache.GetOrCompute(7, compute);
  ASSERT_TRUE(second.value.ok()) << second.value.status();
  EXPECT_EQ(*second.value, 71u);
  EXPECT_FALSE(second.computed);
  EXPECT_FALSE(second.waited);

  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(KeyedCacheTest, ConcurrentSameKeyComputesOnce) {
  constexpr int kThreads = 16;
  KeyedCache cache;
  BlockingCompute compute(
      [](uint64_t key) -> absl::StatusOr<uint64_t> { return key * 3 + 1; });
  Callers callers(cache, /*key=*/42, compute, kThreads);

  // Every caller but the one computing must be waiting before we release it.
  EXPECT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(kThreads - 1, kTimeout));
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 1u);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(compute.calls(), 1);
  EXPECT_EQ(callers.finished(), 0);
  compute.Release();
  const std::vector<KeyedCache::Outcome>& outcomes = callers.Join();

  EXPECT_EQ(compute.calls(), 1);
  EXPECT_EQ(CountComputed(outcomes), 1);
  EXPECT_EQ(CountWaited(outcomes), kThreads - 1);
  for (const KeyedCache::Outcome& o : outcomes) {
    EXPECT_NE(o.computed, o.waited);
    ASSERT_TRUE(o.value.ok()) << o.value.status();
    EXPECT_EQ(*o.value, 42u * 3 + 1);
  }
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);
}

TEST(KeyedCacheTest, UnrelatedKeysComputeInParallel) {
  KeyedCache cache;
  // Each computation announces that it started, then waits for the other one
  // to start. If the cache ran them one after the other, the first would time
  // out and fail.
  std::array<absl::Notification, 2> started;
  auto compute = [&started](uint64_t key) -> absl::StatusOr<uint64_t> {
    const size_t me = key == 100 ? 0 : 1;
    started[me].Notify();
    if (!started[1 - me].WaitForNotificationWithTimeout(kTimeout)) {
      return absl::DeadlineExceededError("the other key never started");
    }
    return key + 1;
  };

  KeyedCache::Outcome outcome_a;
  KeyedCache::Outcome outcome_b;
  std::thread a([&] { outcome_a = cache.GetOrCompute(100, compute); });
  std::thread b([&] { outcome_b = cache.GetOrCompute(200, compute); });
  a.join();
  b.join();

  ASSERT_TRUE(outcome_a.value.ok()) << outcome_a.value.status();
  ASSERT_TRUE(outcome_b.value.ok()) << outcome_b.value.status();
  EXPECT_EQ(*outcome_a.value, 101u);
  EXPECT_EQ(*outcome_b.value, 201u);
  EXPECT_TRUE(outcome_a.computed);
  EXPECT_TRUE(outcome_b.computed);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(KeyedCacheTest, FailureReleasesWaitersWithTheSameErrorAndIsNotCached) {
  constexpr int kThreads = 16;
  KeyedCache cache;
  BlockingCompute compute([](uint64_t) -> absl::StatusOr<uint64_t> {
    return absl::UnavailableError("boom");
  });
  Callers callers(cache, /*key=*/5, compute, kThreads);

  EXPECT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(kThreads - 1, kTimeout));
  compute.Release();
  const std::vector<KeyedCache::Outcome>& outcomes = callers.Join();

  EXPECT_EQ(compute.calls(), 1);
  EXPECT_EQ(CountComputed(outcomes), 1);
  EXPECT_EQ(CountWaited(outcomes), kThreads - 1);
  for (const KeyedCache::Outcome& o : outcomes) {
    EXPECT_EQ(o.value.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(o.value.status().message(), "boom");
  }
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);

  // The failure was not cached: the next caller computes again.
  int calls = 0;
  KeyedCache::Outcome retry =
      cache.GetOrCompute(5, [&calls](uint64_t key) -> absl::StatusOr<uint64_t> {
        ++calls;
        return key * 2;
      });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(retry.computed);
  EXPECT_FALSE(retry.waited);
  ASSERT_TRUE(retry.value.ok()) << retry.value.status();
  EXPECT_EQ(*retry.value, 10u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(KeyedCacheTest,
     ThrowingComputeBecomesInternalErrorAndIsNotLeftInProgress) {
  constexpr int kThreads = 4;
  KeyedCache cache;
  BlockingCompute compute([](uint64_t) -> absl::StatusOr<uint64_t> {
    throw std::runtime_error("kaboom");
  });
  Callers callers(cache, /*key=*/9, compute, kThreads);

  EXPECT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(kThreads - 1, kTimeout));
  compute.Release();
  const std::vector<KeyedCache::Outcome>& outcomes = callers.Join();

  EXPECT_EQ(compute.calls(), 1);
  EXPECT_EQ(CountComputed(outcomes), 1);
  for (const KeyedCache::Outcome& o : outcomes) {
    EXPECT_EQ(o.value.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(o.value.status().message()), HasSubstr("kaboom"));
  }
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);
  EXPECT_EQ(cache.size(), 0u);

  // The key is absent again, not stuck in progress: the next call computes.
  KeyedCache::Outcome retry = cache.GetOrCompute(
      9, [](uint64_t key) -> absl::StatusOr<uint64_t> { return key + 1; });
  EXPECT_TRUE(retry.computed);
  ASSERT_TRUE(retry.value.ok()) << retry.value.status();
  EXPECT_EQ(*retry.value, 10u);
}

TEST(KeyedCacheTest, NonStandardExceptionBecomesInternalError) {
  KeyedCache cache;
  KeyedCache::Outcome o =
      cache.GetOrCompute(3, [](uint64_t) -> absl::StatusOr<uint64_t> {
        throw 17;  // Not derived from std::exception.
      });
  EXPECT_TRUE(o.computed);
  EXPECT_EQ(o.value.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(KeyedCacheTest, SpuriousWakeUpsAreHarmless) {
  constexpr int kThreads = 16;
  constexpr int kWaiters = kThreads - 1;
  constexpr int kRounds = 5;
  KeyedCache cache;
  BlockingCompute compute(
      [](uint64_t key) -> absl::StatusOr<uint64_t> { return key ^ 0xff; });
  Callers callers(cache, /*key=*/11, compute, kThreads);

  ASSERT_TRUE(compute.AwaitStarted());
  ASSERT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(kWaiters, kTimeout));
  for (int round = 1; round <= kRounds; ++round) {
    KeyedCacheTestPeer(cache).WakeWaitersSpuriously();
    // Every waiter wakes. It counts the wake-up, then goes back to waiting
    // or returns, under one hold of the lock: once all of this round's
    // wake-ups are counted, the waiting count shows what every woken waiter
    // did, whatever the threads' timing.
    if (!KeyedCacheTestPeer(cache).AwaitWakeUps(uint64_t{kWaiters} * round,
                                                kTimeout)) {
      ADD_FAILURE() << "the waiters did not all wake in round " << round;
      break;
    }
    if (KeyedCacheTestPeer(cache).waiting() != static_cast<size_t>(kWaiters)) {
      ADD_FAILURE() << "only " << KeyedCacheTestPeer(cache).waiting() << " of "
                    << kWaiters
                    << " woken waiters went back to waiting in round " << round;
      break;  // Later rounds could not wake the waiters that returned.
    }
    EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 1u);
    EXPECT_EQ(compute.calls(), 1);
    EXPECT_EQ(callers.finished(), 0);
  }
  compute.Release();
  const std::vector<KeyedCache::Outcome>& outcomes = callers.Join();

  EXPECT_EQ(compute.calls(), 1);
  EXPECT_EQ(CountComputed(outcomes), 1);
  EXPECT_EQ(CountWaited(outcomes), kWaiters);
  for (const KeyedCache::Outcome& o : outcomes) {
    ASSERT_TRUE(o.value.ok()) << o.value.status();
    EXPECT_EQ(*o.value, 11u ^ 0xff);
  }
}

TEST(KeyedCacheTest, SizeComputingAndWaitingReportTheKeyStates) {
  KeyedCache cache;
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);
  // Nobody is waiting, so this can only time out.
  EXPECT_FALSE(
      KeyedCacheTestPeer(cache).AwaitWaiting(1, absl::Milliseconds(10)));
  EXPECT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(0, absl::ZeroDuration()));

  auto identity = [](uint64_t key) -> absl::StatusOr<uint64_t> { return key; };
  cache.GetOrCompute(1, identity);
  cache.GetOrCompute(2, identity);
  cache.GetOrCompute(2, identity);
  EXPECT_EQ(cache.size(), 2u);
  cache.GetOrCompute(3, [](uint64_t) -> absl::StatusOr<uint64_t> {
    return absl::NotFoundError("no");
  });
  EXPECT_EQ(cache.size(), 2u);  // Failures are not cached.

  constexpr int kThreads = 4;
  BlockingCompute compute(identity);
  Callers callers(cache, /*key=*/4, compute, kThreads);
  EXPECT_TRUE(compute.AwaitStarted());
  EXPECT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(kThreads - 1, kTimeout));
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(),
            static_cast<size_t>(kThreads - 1));
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 1u);
  EXPECT_EQ(cache.size(), 2u);
  // Cached keys are still served while another key is in progress.
  KeyedCache::Outcome cached = cache.GetOrCompute(1, identity);
  EXPECT_FALSE(cached.computed);
  EXPECT_FALSE(cached.waited);

  compute.Release();
  callers.Join();
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(KeyedCacheTest, RandomizedStressComputesEachKeyOnce) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 2000;
  constexpr uint64_t kKeys = 64;
  KeyedCache cache;
  std::array<std::atomic<int>, kKeys> calls{};
  auto value_of = [](uint64_t key) { return key * key + 17; };
  auto compute = [&calls, &value_of](uint64_t key) -> absl::StatusOr<uint64_t> {
    calls[key].fetch_add(1);
    std::this_thread::yield();  // Widen the window for a racing caller.
    return value_of(key);
  };

  std::atomic<int> wrong_values{0};
  std::atomic<int> computed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1234 + t);
      std::uniform_int_distribution<uint64_t> pick(0, kKeys - 1);
      for (int i = 0; i < kCallsPerThread; ++i) {
        const uint64_t key = pick(rng);
        KeyedCache::Outcome o = cache.GetOrCompute(key, compute);
        if (!o.value.ok() || *o.value != value_of(key))
          wrong_values.fetch_add(1);
        if (o.computed) computed.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(wrong_values.load(), 0);
  size_t keys_seen = 0;
  for (uint64_t key = 0; key < kKeys; ++key) {
    EXPECT_LE(calls[key].load(), 1) << "key " << key;
    keys_seen += calls[key].load() > 0 ? 1 : 0;
  }
  // 16000 uniform picks over 64 keys reach every key (the seeds are fixed).
  EXPECT_EQ(keys_seen, kKeys);
  EXPECT_EQ(computed.load(), static_cast<int>(kKeys));
  EXPECT_EQ(cache.size(), kKeys);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);
}

}  // namespace
}  // namespace pieces

namespace pieces {
namespace {

absl::StatusOr<uint64_t> Double(uint64_t key) { return key * 2; }

// Whether `key` is cached, without changing its recency: a probe that would
// compute is answered by a failing function, which caches nothing.
bool IsCached(KeyedCache& cache, uint64_t key) {
  KeyedCache::Outcome outcome = cache.GetOrCompute(key, [](uint64_t) {
    return absl::StatusOr<uint64_t>(absl::NotFoundError("probe"));
  });
  return outcome.value.ok();
}

TEST(KeyedCacheBoundedTest, EvictsTheLeastRecentlyUsedReadyKey) {
  KeyedCache cache(/*capacity=*/3);
  for (uint64_t key : {1, 2, 3}) cache.GetOrCompute(key, Double);
  // A hit makes 1 the most recently used: 2 is now the least.
  EXPECT_FALSE(cache.GetOrCompute(1, Double).computed);
  cache.GetOrCompute(4, Double);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_TRUE(IsCached(cache, 1));
  EXPECT_FALSE(IsCached(cache, 2));
  EXPECT_TRUE(IsCached(cache, 3));
  EXPECT_TRUE(IsCached(cache, 4));
  // An evicted key is computed again, and its value is right.
  KeyedCache::Outcome again = cache.GetOrCompute(2, Double);
  EXPECT_TRUE(again.computed);
  EXPECT_EQ(*again.value, 4u);
}

TEST(KeyedCacheBoundedTest, KeyInProgressIsNeverEvicted) {
  KeyedCache cache(/*capacity=*/1);
  BlockingCompute slow(
      [](uint64_t key) { return absl::StatusOr<uint64_t>(key); });
  Callers callers(cache, /*key=*/100, slow, /*n=*/3);
  ASSERT_TRUE(slow.AwaitStarted());
  ASSERT_TRUE(KeyedCacheTestPeer(cache).AwaitWaiting(2, kTimeout));
  // Fill and churn the one ready slot while 100 is in progress.
  for (uint64_t key = 0; key < 10; ++key) cache.GetOrCompute(key, Double);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 1u);
  slow.Release();
  for (const KeyedCache::Outcome& outcome : callers.Join()) {
    ASSERT_TRUE(outcome.value.ok());
    EXPECT_EQ(*outcome.value, 100u);
  }
  EXPECT_EQ(slow.calls(), 1);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
}

TEST(KeyedCacheBoundedTest, ChurnKeepsSizeAtCapacityAndValuesRight) {
  KeyedCache cache(/*capacity=*/64);
  std::mt19937_64 random(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t key = random() % 256;
    KeyedCache::Outcome outcome = cache.GetOrCompute(key, Double);
    ASSERT_TRUE(outcome.value.ok());
    ASSERT_EQ(*outcome.value, key * 2);
  }
  EXPECT_EQ(cache.size(), 64u);
  EXPECT_GT(cache.evictions(), 0u);
}

TEST(KeyedCacheBoundedTest, UnboundedKeepsEverything) {
  KeyedCache cache;
  for (uint64_t key = 0; key < 10000; ++key) cache.GetOrCompute(key, Double);
  EXPECT_EQ(cache.size(), 10000u);
  EXPECT_EQ(cache.evictions(), 0u);
}

}  // namespace
}  // namespace pieces

namespace pieces {
namespace {

TEST(KeyedCacheParkTest,
     WaitersParkWithoutBlockingAndAreCompletedByTheComputer) {
  KeyedCache cache;
  BlockingCompute slow(
      [](uint64_t key) { return absl::StatusOr<uint64_t>(key + 1); });
  std::optional<KeyedCache::Outcome> computer_outcome;
  std::thread computer([&] {
    computer_outcome = KeyedCacheTestPeer(cache).GetOrComputeOrPark(
        5, [&slow](uint64_t k) { return slow(k); },
        [](KeyedCache::Outcome) {
          ADD_FAILURE() << "the computer never parks";
        });
  });
  ASSERT_TRUE(slow.AwaitStarted());

  // This thread parks 100 waiters; none of the calls blocks.
  std::vector<KeyedCache::Outcome> parked_outcomes;
  absl::Mutex mu;
  std::thread::id computer_thread;
  for (int i = 0; i < 100; ++i) {
    std::optional<KeyedCache::Outcome> now =
        KeyedCacheTestPeer(cache).GetOrComputeOrPark(
            5, [](uint64_t) { return absl::StatusOr<uint64_t>(0); },
            [&](KeyedCache::Outcome outcome) {
              absl::MutexLock lock(&mu);
              parked_outcomes.push_back(std::move(outcome));
              computer_thread = std::this_thread::get_id();
            });
    ASSERT_FALSE(now.has_value());
  }
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 100u);
  slow.Release();
  computer.join();

  ASSERT_TRUE(computer_outcome.has_value());
  EXPECT_TRUE(computer_outcome->computed);
  EXPECT_EQ(slow.calls(), 1);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(parked_outcomes.size(), 100u);
  for (const KeyedCache::Outcome& outcome : parked_outcomes) {
    ASSERT_TRUE(outcome.value.ok());
    EXPECT_EQ(*outcome.value, 6u);
    EXPECT_TRUE(outcome.waited);
    EXPECT_FALSE(outcome.computed);
  }
  EXPECT_NE(computer_thread, std::this_thread::get_id());
  EXPECT_EQ(KeyedCacheTestPeer(cache).waiting(), 0u);
}

TEST(KeyedCacheParkTest, ParkedWaitersGetTheFailureAndTheKeyIsNotCached) {
  KeyedCache cache;
  BlockingCompute failing([](uint64_t) {
    return absl::StatusOr<uint64_t>(absl::UnavailableError("down"));
  });
  std::thread computer([&] {
    KeyedCacheTestPeer(cache).GetOrComputeOrPark(
        9, [&failing](uint64_t k) { return failing(k); },
        [](KeyedCache::Outcome) {});
  });
  ASSERT_TRUE(failing.AwaitStarted());
  absl::Status parked_status;
  ASSERT_FALSE(KeyedCacheTestPeer(cache)
                   .GetOrComputeOrPark(
                       9, [](uint64_t) { return absl::StatusOr<uint64_t>(0); },
                       [&](KeyedCache::Outcome outcome) {
                         parked_status = outcome.value.status();
                       })
                   .has_value());
  failing.Release();
  computer.join();
  EXPECT_EQ(parked_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(KeyedCacheTestPeer(cache).computing(), 0u);
}

TEST(KeyedCacheParkTest, ReadyKeyAnswersAtOnce) {
  KeyedCache cache;
  cache.GetOrCompute(3, [](uint64_t k) { return absl::StatusOr<uint64_t>(k); });
  std::optional<KeyedCache::Outcome> outcome =
      KeyedCacheTestPeer(cache).GetOrComputeOrPark(
          3, [](uint64_t) { return absl::StatusOr<uint64_t>(0); },
          [](KeyedCache::Outcome) {
            ADD_FAILURE() << "a ready key never parks";
          });
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->computed);
  EXPECT_FALSE(outcome->waited);
  EXPECT_EQ(*outcome->value, 3u);
}

}  // namespace
}  // namespace pieces
