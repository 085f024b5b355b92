// Stage 5, the keyed condition variable: as stage 4, but the cache keeps a
// state per key (absent, in progress, ready) next to the values, and a pool
// thread that finds its key in progress waits on the key's condition variable,
// in a loop, until it is ready (KeyedCache::GetOrCompute). Exactly one unit
// computes each key, and other keys still run in parallel. The cost: each
// waiter blocks a pool thread, so a hot key with many waiters ties up the
// pool and starves unrelated keys while it is computed. The service's own
// design parks those waiters without a thread instead (see session.h).
#include <utility>

#include "work_service/pieces/piece.h"

namespace pieces {
namespace {

class KeyedCondVarPiece final : public Piece {
 public:
  explicit KeyedCondVarPiece(const PieceEnv& env)
      : work_(env.work), pool_(env.pool), cache_(env.cache) {}

  void Run(uint64_t key, Done done) override {
    pool_->Submit([this, key, done = std::move(done)]() mutable {
      // Blocks this pool thread while another unit computes `key`.
      std::move(done)(cache_->GetOrCompute(
          key, [this](uint64_t k) { return work_->Compute(k); }));
    });
  }

  int number() const override { return 5; }
  bool DrainsBeforeExited() const override { return true; }
  size_t threads() const override { return pool_->num_threads(); }
  size_t cached_keys() const override { return cache_->size(); }

 private:
  const WorkFunction* const work_;
  ThreadPool* const pool_;
  KeyedCache* const cache_;
};

}  // namespace

std::unique_ptr<Piece> MakeKeyedCondVarPiece(const PieceEnv& env) {
  return std::make_unique<KeyedCondVarPiece>(env);
}

}  // namespace pieces
