// Test hooks into a KeyedCache: a lookup that computes or parks in one call,
// what is computing and waiting now, waiting for waiters, and waking them
// spuriously. Not part of the cache's API, which is
// what its callers use.
//
// KeyedCacheTestPeer peer(cache);
// ASSERT_TRUE(peer.AwaitWaiting(3, absl::Seconds(30)));
//
// Thread safety: as the cache's; the peer only refers to the cache, which
// must outlive it.
#ifndef PIECES_TESTS_COMMON_KEYED_CACHE_TEST_PEER_H_
#define PIECES_TESTS_COMMON_KEYED_CACHE_TEST_PEER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/keyed_cache.h"

namespace pieces {

class KeyedCacheTestPeer {
 public:
  explicit KeyedCacheTestPeer(KeyedCache& cache) : cache_(cache) {}

  // LookupOrClaim(), then CompleteClaim() on this thread if claimed: nullopt
  // when parked (`then` runs later). What an event loop's worker does, in one
  // call.
  std::optional<KeyedCache::Outcome> GetOrComputeOrPark(
      uint64_t key, KeyedCache::ComputeFn compute,
      KeyedCache::Continuation then) {
    const KeyedCache::Lookup lookup =
        cache_.LookupOrClaim(key, [&then] { return std::move(then); });
    switch (lookup.found) {
      case KeyedCache::Found::kReady:
        return KeyedCache::Outcome{lookup.value, /*computed=*/false,
                                   /*waited=*/false};
      case KeyedCache::Found::kParked:
        return std::nullopt;
      case KeyedCache::Found::kClaimed:
        break;
    }
    return cache_.CompleteClaim(key, compute);
  }

  size_t computing() const { return cache_.computing(); }
  size_t waiting() const { return cache_.waiting(); }

  // Blocks until at least `n` callers are waiting, or `timeout` passes.
  // Returns whether they were.
  bool AwaitWaiting(size_t n, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(cache_.mu_) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&cache_.mu_);
    while (cache_.waiting_ < n) {
      if (cache_.waiting_grew_.WaitWithDeadline(&cache_.mu_, deadline)) {
        return cache_.waiting_ >= n;
      }
    }
    return true;
  }

  // Wakes every caller blocked in GetOrCompute() without completing its key,
  // as a spurious wake-up would. Waiters must go back to waiting.
  void WakeWaitersSpuriously() ABSL_LOCKS_EXCLUDED(cache_.mu_) {
    absl::MutexLock lock(&cache_.mu_);
    for (auto& [key, state] : cache_.in_progress_) state->cv.SignalAll();
  }

  // Blocks until callers blocked in GetOrCompute() have woken from their
  // wait at least `n` times in all since the cache was made (a wake-up for
  // any reason, spurious or not), or `timeout` passes. Returns whether they
  // had. A waiter counts its wake-up and goes back to waiting or returns
  // under one hold of the lock, so once the count is reached, waiting()
  // shows what the woken waiters did.
  bool AwaitWakeUps(uint64_t n, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(cache_.mu_) {
    // Await re-evaluates the condition whenever the lock is released, so the
    // wait loop needs no signal of its own.
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_.mu_) {
      return cache_.wake_ups_ >= n;
    };
    absl::MutexLock lock(&cache_.mu_);
    return cache_.mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

 private:
  KeyedCache& cache_;
};

}  // namespace pieces

#endif  // PIECES_TESTS_COMMON_KEYED_CACHE_TEST_PEER_H_
