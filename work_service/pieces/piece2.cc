// Stage 2, a thread pool: units run in parallel on the pool, so results come
// in completion order, not request order. There is no cache, and nothing
// counts the units in progress: the session answers Exit at once with Exited
// and ends the call, and results not yet written by then are lost (the units
// still run; their outcome is dropped). That is the defect this stage shows.
#include <utility>

#include "work_service/pieces/piece.h"

namespace pieces {
namespace {

class PoolPiece final : public Piece {
 public:
  explicit PoolPiece(const PieceEnv& env) : work_(env.work), pool_(env.pool) {}

  void Run(uint64_t key, Done done) override {
    pool_->Submit([work = work_, key, done = std::move(done)]() mutable {
      std::move(done)(KeyedCache::Outcome{work->Compute(key),
                                          /*computed=*/true,
                                          /*waited=*/false});
    });
  }

  int number() const override { return 2; }
  bool DrainsBeforeExited() const override { return false; }
  size_t threads() const override { return pool_->num_threads(); }
  size_t cached_keys() const override { return 0; }

 private:
  const WorkFunction* const work_;
  ThreadPool* const pool_;
};

}  // namespace

std::unique_ptr<Piece> MakePoolPiece(const PieceEnv& env) {
  return std::make_unique<PoolPiece>(env);
}

}  // namespace pieces
