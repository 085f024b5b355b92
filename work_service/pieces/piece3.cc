// Stage 3, a pool and a drain: as stage 2, but the session counts the units
// in progress and remembers the Exit, and writes Exited only once the count
// is zero (Session's unanswered_ and exit_received_): every result comes
// before the Exited. Still no cache, so a repeated key is computed again.
#include <utility>

#include "work_service/pieces/piece.h"

namespace pieces {
namespace {

class DrainingPiece final : public Piece {
 public:
  explicit DrainingPiece(const PieceEnv& env)
      : work_(env.work), pool_(env.pool) {}

  void Run(uint64_t key, Done done) override {
    pool_->Submit([work = work_, key, done = std::move(done)]() mutable {
      std::move(done)(KeyedCache::Outcome{work->Compute(key),
                                          /*computed=*/true,
                                          /*waited=*/false});
    });
  }

  int number() const override { return 3; }
  bool DrainsBeforeExited() const override { return true; }
  size_t threads() const override { return pool_->num_threads(); }
  size_t cached_keys() const override { return 0; }

 private:
  const WorkFunction* const work_;
  ThreadPool* const pool_;
};

}  // namespace

std::unique_ptr<Piece> MakeDrainingPiece(const PieceEnv& env) {
  return std::make_unique<DrainingPiece>(env);
}

}  // namespace pieces
