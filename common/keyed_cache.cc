#include "common/keyed_cache.h"

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pieces {
namespace {

// `result`, with an error of its own: absl::Status shares its heap rep between
// copies and counts them inside Debian's libabsl_status, on whichever thread
// drops the last one. Every caller gets its own rep, so the callers of one
// failed computation, on their own threads, share nothing (and
// ThreadSanitizer, which cannot see that library's count, sees nothing
// shared either). One copy of the message per failed caller.
absl::StatusOr<uint64_t> OwnCopy(const absl::StatusOr<uint64_t>& result) {
  if (result.ok()) return result;
  return absl::Status(result.status().code(), result.status().message());
}

}  // namespace

KeyedCache::Outcome KeyedCache::GetOrCompute(uint64_t key, ComputeFn compute) {
  std::shared_ptr<InProgress> state;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = ready_.find(key); it != ready_.end()) {
      const uint32_t index = it->second;
      Unlink(index);
      PushMostRecent(index);
      return Outcome{nodes_[index].value, /*computed=*/false,
                     /*waited=*/false};
    }
    if (auto it = in_progress_.find(key); it != in_progress_.end()) {
      // Another caller is computing this key: wait for its outcome. The loop
      // makes a spurious wake-up go back to waiting.
      std::shared_ptr<InProgress> other = it->second;
      ++waiting_;
      ++other->blocked;
      waiting_grew_.SignalAll();
      while (!other->done) {
        other->cv.Wait(&mu_);
        ++wake_ups_;
      }
      --other->blocked;
      --waiting_;
      return Outcome{OwnCopy(other->result), /*computed=*/false,
                     /*waited=*/true};
    }
    state = std::make_shared<InProgress>();
    in_progress_.emplace(key, state);
  }

  return ComputeAndPublish(key, compute, std::move(state));
}

KeyedCache::Lookup KeyedCache::LookupOrClaim(
    uint64_t key, absl::FunctionRef<Continuation()> make_then) {
  absl::MutexLock lock(&mu_);
  if (auto it = ready_.find(key); it != ready_.end()) {
    const uint32_t index = it->second;
    Unlink(index);
    PushMostRecent(index);
    return Lookup{Found::kReady, nodes_[index].value};
  }
  if (auto it = in_progress_.find(key); it != in_progress_.end()) {
    it->second->parked.push_back(make_then());
    ++waiting_;
    waiting_grew_.SignalAll();
    return Lookup{Found::kParked};
  }
  in_progress_.emplace(key, std::make_shared<InProgress>());
  return Lookup{Found::kClaimed};
}

KeyedCache::Outcome KeyedCache::CompleteClaim(uint64_t key, ComputeFn compute) {
  std::shared_ptr<InProgress> state;
  {
    absl::MutexLock lock(&mu_);
    state = in_progress_.at(key);  // Claimed by the caller: it is there.
  }
  return ComputeAndPublish(key, compute, std::move(state));
}

bool KeyedCache::AbandonClaim(uint64_t key) {
  absl::MutexLock lock(&mu_);
  auto it = in_progress_.find(key);
  if (it == in_progress_.end()) return true;
  if (!it->second->parked.empty() || it->second->blocked > 0) return false;
  in_progress_.erase(it);
  return true;
}

KeyedCache::Outcome KeyedCache::ComputeAndPublish(
    uint64_t key, ComputeFn compute, std::shared_ptr<InProgress> state) {
  // The work itself runs with no lock held, so other keys proceed in parallel.
  absl::StatusOr<uint64_t> result = RunCompute(key, compute);

  std::vector<Continuation> parked;
  {
    absl::MutexLock lock(&mu_);
    in_progress_.erase(key);
    if (result.ok()) Publish(key, *result);
    state->result = OwnCopy(result);
    state->done = true;
    parked.swap(state->parked);
    waiting_ -= parked.size();
  }
  // Waiters re-check `done` under mu_, so signalling after unlocking is safe;
  // `state` stays alive through our reference.
  state->cv.SignalAll();
  for (Continuation& then : parked) {
    std::move(then)(
        Outcome{OwnCopy(result), /*computed=*/false, /*waited=*/true});
  }
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

uint64_t KeyedCache::evictions() const {
  absl::MutexLock lock(&mu_);
  return evictions_;
}

void KeyedCache::Unlink(uint32_t index) {
  Node& node = nodes_[index];
  if (node.newer != kNone) {
    nodes_[node.newer].older = node.older;
  } else {
    most_recent_ = node.older;
  }
  if (node.older != kNone) {
    nodes_[node.older].newer = node.newer;
  } else {
    least_recent_ = node.newer;
  }
}

void KeyedCache::PushMostRecent(uint32_t index) {
  Node& node = nodes_[index];
  node.newer = kNone;
  node.older = most_recent_;
  if (most_recent_ != kNone) nodes_[most_recent_].newer = index;
  most_recent_ = index;
  if (least_recent_ == kNone) least_recent_ = index;
}

void KeyedCache::Publish(uint64_t key, uint64_t value) {
  if (capacity_ != 0 && ready_.size() >= capacity_) {
    // Evict the least recently used ready key; its node is reused below.
    const uint32_t victim = least_recent_;
    Unlink(victim);
    ready_.erase(nodes_[victim].key);
    nodes_[victim].older = free_;
    free_ = victim;
    ++evictions_;
  }
  uint32_t index;
  if (free_ != kNone) {
    index = free_;
    free_ = nodes_[index].older;
  } else {
    index = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[index].key = key;
  nodes_[index].value = value;
  PushMostRecent(index);
  ready_.emplace(key, index);
}

size_t KeyedCache::computing() const {
  absl::MutexLock lock(&mu_);
  return in_progress_.size();
}

size_t KeyedCache::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

}  // namespace pieces
