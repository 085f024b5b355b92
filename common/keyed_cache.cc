#include "common/keyed_cache.h"

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pieces {

KeyedCache::Outcome KeyedCache::GetOrCompute(uint64_t key, ComputeFn compute) {
  std::shared_ptr<InProgress> state;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = ready_.find(key); it != ready_.end()) {
      return Outcome{it->second, /*computed=*/false, /*waited=*/false};
    }
    if (auto it = in_progress_.find(key); it != in_progress_.end()) {
      // Another caller is computing this key: wait for its outcome. The loop
      // makes a spurious wake-up go back to waiting.
      std::shared_ptr<InProgress> other = it->second;
      ++waiting_;
      waiting_grew_.SignalAll();
      while (!other->done) other->cv.Wait(&mu_);
      --waiting_;
      return Outcome{other->result, /*computed=*/false, /*waited=*/true};
    }
    state = std::make_shared<InProgress>();
    in_progress_.emplace(key, state);
  }

  // The work itself runs with no lock held, so other keys proceed in parallel.
  absl::StatusOr<uint64_t> result = RunCompute(key, compute);

  {
    absl::MutexLock lock(&mu_);
    in_progress_.erase(key);
    if (result.ok()) ready_.emplace(key, *result);
    state->result = result;
    state->done = true;
  }
  // Waiters re-check `done` under mu_, so signalling after unlocking is safe;
  // `state` stays alive through our reference.
  state->cv.SignalAll();
  return Outcome{std::move(result), /*computed=*/true, /*waited=*/false};
}

absl::StatusOr<uint64_t> KeyedCache::RunCompute(uint64_t key,
                                                ComputeFn compute) {
  try {
    return compute(key);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("work for key ", key, " threw: ", e.what()));
  } catch (...) {
    return absl::InternalError(
        absl::StrCat("work for key ", key, " threw an unknown exception"));
  }
}

size_t KeyedCache::size() const {
  absl::MutexLock lock(&mu_);
  return ready_.size();
}

size_t KeyedCache::computing() const {
  absl::MutexLock lock(&mu_);
  return in_progress_.size();
}

size_t KeyedCache::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

bool KeyedCache::AwaitWaiting(size_t n, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (waiting_ < n) {
    if (waiting_grew_.WaitWithDeadline(&mu_, deadline)) return waiting_ >= n;
  }
  return true;
}

void KeyedCache::WakeWaitersSpuriously() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, state] : in_progress_) state->cv.SignalAll();
}

}  // namespace pieces
