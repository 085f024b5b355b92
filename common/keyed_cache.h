// A process-wide cache of computed values, keyed by a 64-bit key, that makes
// sure each key is computed by one caller at a time.
//
// Every key is in one of three states: absent, in progress (one caller is
// computing it) or ready (its value is cached). GetOrCompute() moves an absent
// key to in progress and computes it on the calling thread, with no lock held;
// then it publishes the value under the lock and the key becomes ready.
// Callers that find the key in progress wait on that key's condition variable
// (in a loop, so spurious wake-ups are harmless) and share the outcome.
//
// A failed computation is not cached: the key goes back to absent, the callers
// that waited for it get the same error, and the next caller computes again.
//
// The cache can be bounded: with a capacity, publishing a value when the cache
// is full first evicts the least recently used ready key (a hit counts as a
// use). Keys in progress are kept apart and never evicted, and the state of a
// key in progress is freed as soon as its computation and waiters are done.
//
// KeyedCache cache;
// KeyedCache::Outcome o = cache.GetOrCompute(7, [](uint64_t key) {
//   return absl::StatusOr<uint64_t>(key * 2);
// });
//
// Waiting without a thread: LookupOrClaim() never blocks. It answers a ready
// key at once, claims an absent key for the caller (who computes it later with
// CompleteClaim(), on a worker thread), or parks a continuation on a key in
// progress; the computing caller runs the continuations, on its own thread,
// once the outcome is known. An event loop can thus decide every unit the
// moment it arrives, in arrival order, and a hot key ties up one worker, not
// one per waiter.
//
// Thread safety: all methods may be called concurrently from any thread.
// GetOrCompute() blocks while another caller computes the same key, so call it
// from worker threads, never from an event loop that must not block.
#ifndef PIECES_COMMON_KEYED_CACHE_H_
#define PIECES_COMMON_KEYED_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pieces {

class KeyedCache {
 public:
  // Computes the value of a key. Called with no lock held. Should return a
  // status rather than throw; an exception is turned into an INTERNAL error.
  using ComputeFn = absl::FunctionRef<absl::StatusOr<uint64_t>(uint64_t key)>;

  // What one GetOrCompute() call saw.
  struct Outcome {
    // The key's value, or the error of the computation this call ran or
    // waited for. Each caller's error is a Status of its own (no rep shared
    // with another caller's), so callers may keep it on any thread.
    absl::StatusOr<uint64_t> value;
    // This call ran `compute` itself.
    bool computed = false;
    // This call waited for another caller's computation of the same key.
    bool waited = false;
  };

  // `capacity` is the most ready keys kept; 0 keeps every key.
  explicit KeyedCache(size_t capacity = 0) : capacity_(capacity) {}
  KeyedCache(const KeyedCache&) = delete;
  KeyedCache& operator=(const KeyedCache&) = delete;

  // Returns the cached value of `key`; or waits for the caller computing it
  // and returns that outcome; or, if neither, computes it with `compute`,
  // caches a successful value and returns it.
  Outcome GetOrCompute(uint64_t key, ComputeFn compute)
      ABSL_LOCKS_EXCLUDED(mu_);

  // What to run with the outcome of a computation a caller had to wait for.
  using Continuation = absl::AnyInvocable<void(Outcome) &&>;

  // What LookupOrClaim() found.
  enum class Found {
    kReady,    // The value is cached: Lookup::value.
    kClaimed,  // The key was absent and is now in progress for the caller,
               // who must call CompleteClaim() or AbandonClaim() once.
    kParked,   // Another caller is computing it; `then` will run.
  };
  struct Lookup {
    Found found;
    uint64_t value = 0;  // Set for kReady.
  };

  // Never blocks and never computes. For kParked, keeps the continuation
  // that `make_then` makes (under the lock, only if the caller parks): it
  // runs on the thread that completes the key, with no lock held, with
  // waited = true. A hit or a claim thus allocates nothing: an AnyInvocable
  // whose captures exceed its 16 bytes of inline storage lives on the heap,
  // and most lookups are hits.
  Lookup LookupOrClaim(uint64_t key,
                       absl::FunctionRef<Continuation()> make_then)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Computes a key this caller claimed, publishes a successful value, wakes
  // the blocked waiters and runs the parked continuations. Returns the
  // outcome, with computed = true.
  Outcome CompleteClaim(uint64_t key, ComputeFn compute)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Gives up a claim nobody waits for: the key goes back to absent and true
  // is returned. If someone waits, returns false: the caller must complete
  // the claim.
  bool AbandonClaim(uint64_t key) ABSL_LOCKS_EXCLUDED(mu_);

  // Keys whose value is cached.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Keys evicted to make room, since construction.
  uint64_t evictions() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t capacity() const { return capacity_; }
  // Keys being computed now.
  size_t computing() const ABSL_LOCKS_EXCLUDED(mu_);
  // Callers waiting now for another caller's computation (blocked or
  // parked).
  size_t waiting() const ABSL_LOCKS_EXCLUDED(mu_);
  // Test hooks (waiting for waiters, spurious wake-ups) are in
  // KeyedCacheTestPeer (tests/common/keyed_cache_test_peer.h).
  friend class KeyedCacheTestPeer;

 private:
  // The state of a key being computed. Shared by the computing caller and its
  // waiters, so that it outlives its entry in `in_progress_`.
  struct InProgress {
    // Signalled when `done` becomes true (and by the test peer's spurious
    // wake-ups).
    absl::CondVar cv;
    // The fields below are guarded by KeyedCache::mu_.
    bool done = false;
    absl::StatusOr<uint64_t> result;
    // Callers waiting without a thread (LookupOrClaim).
    std::vector<Continuation> parked;
    // Callers blocked in GetOrCompute on `cv`.
    int blocked = 0;
  };

  // A ready key, in the recency list: a doubly linked list threaded through
  // `nodes_` by index (4-byte links keep an entry small).
  struct Node {
    uint64_t key;
    uint64_t value;
    uint32_t newer;  // Towards most_recent_; kNone at the head.
    uint32_t older;  // Towards least_recent_; kNone at the tail. Also links
                     // the free list.
  };
  static constexpr uint32_t kNone = UINT32_MAX;

  // Computes `key` (marked in progress by the caller), publishes the outcome,
  // wakes the blocked waiters and runs the parked ones.
  Outcome ComputeAndPublish(uint64_t key, ComputeFn compute,
                            std::shared_ptr<InProgress> state)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `compute`, turning an exception into an error.
  static absl::StatusOr<uint64_t> RunCompute(uint64_t key, ComputeFn compute);

  // Recency list operations.
  void Unlink(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushMostRecent(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Caches `value` for `key` (absent from ready_), evicting if full.
  void Publish(uint64_t key, uint64_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const size_t capacity_;

  // Guards the key states. Never held while computing.
  mutable absl::Mutex mu_;
  // Ready keys: key -> index of its Node in nodes_.
  absl::flat_hash_map<uint64_t, uint32_t> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<Node> nodes_ ABSL_GUARDED_BY(mu_);
  uint32_t most_recent_ ABSL_GUARDED_BY(mu_) = kNone;
  uint32_t least_recent_ ABSL_GUARDED_BY(mu_) = kNone;
  uint32_t free_ ABSL_GUARDED_BY(mu_) = kNone;  // Unused nodes.
  uint64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::shared_ptr<InProgress>> in_progress_
      ABSL_GUARDED_BY(mu_);
  size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  // Times a caller blocked in GetOrCompute() woke from its wait, for the test
  // peer.
  uint64_t wake_ups_ ABSL_GUARDED_BY(mu_) = 0;
  // Signalled when waiting_ grows, for the test peer.
  mutable absl::CondVar waiting_grew_;
};

}  // namespace pieces

#endif  // PIECES_COMMON_KEYED_CACHE_H_
