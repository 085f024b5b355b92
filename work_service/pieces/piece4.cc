// Stage 4, a racy cache: as stage 3, plus a cache shared by the pool threads,
// looked up before computing and filled after, with the computation outside
// the lock (so that other keys run in parallel). Between a unit's miss and
// its fill, another unit of the same key misses too and computes it again:
// two overlapping units of a fresh key are sometimes both PERFORMED_NEW,
// sometimes one is FROM_CACHE, depending on timing. That is the defect.
// (The cache has no bound: --cache_capacity applies to stage 5 and the
// service's own design.)
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "work_service/pieces/piece.h"

namespace pieces {
namespace {

class RacyCachePiece final : public Piece {
 public:
  explicit RacyCachePiece(const PieceEnv& env)
      : work_(env.work), pool_(env.pool) {}

  void Run(uint64_t key, Done done) override {
    pool_->Submit([this, key, done = std::move(done)]() mutable {
      std::move(done)(RunOnPool(key));
    });
  }

  int number() const override { return 4; }
  bool DrainsBeforeExited() const override { return true; }
  size_t threads() const override { return pool_->num_threads(); }
  size_t cached_keys() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return values_.size();
  }

 private:
  // On a pool thread: check, compute unlocked, fill.
  KeyedCache::Outcome RunOnPool(uint64_t key) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (auto it = values_.find(key); it != values_.end()) {
        return KeyedCache::Outcome{it->second, /*computed=*/false,
                                   /*waited=*/false};
      }
    }
    // The race: until the fill below, a unit of the same key misses too.
    absl::StatusOr<uint64_t> value = work_->Compute(key);
    if (value.ok()) {
      absl::MutexLock lock(&mu_);
      values_.insert_or_assign(key, *value);
    }
    return KeyedCache::Outcome{std::move(value), /*computed=*/true,
                               /*waited=*/false};
  }

  // Constant after construction.
  const WorkFunction* const work_;
  ThreadPool* const pool_;

  mutable absl::Mutex mu_;
  // Values computed, by key; never evicted. Failures are not cached.
  absl::flat_hash_map<uint64_t, uint64_t> values_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Piece> MakeRacyCachePiece(const PieceEnv& env) {
  return std::make_unique<RacyCachePiece>(env);
}

}  // namespace pieces
