// Stage 1, one event loop: every unit of every session runs on one thread,
// one at a time, in the order the units arrived. Each session's results
// therefore come in request order and every unit computes its key (there is
// no cache); the session's Exited comes after them. The cost: no parallelism
// at all, and one slow unit holds up every session.
#include <utility>

#include "work_service/pieces/piece.h"

namespace pieces {
namespace {

class EventLoopPiece final : public Piece {
 public:
  explicit EventLoopPiece(const PieceEnv& env) : work_(env.work), loop_(1) {}

  void Run(uint64_t key, Done done) override {
    // On the loop's thread, in submission order.
    loop_.Submit([this, key, done = std::move(done)]() mutable {
      std::move(done)(KeyedCache::Outcome{work_->Compute(key),
                                          /*computed=*/true,
                                          /*waited=*/false});
    });
  }

  int number() const override { return 1; }
  bool DrainsBeforeExited() const override { return true; }
  size_t threads() const override { return 1; }
  size_t cached_keys() const override { return 0; }

 private:
  const WorkFunction* const work_;
  // The event loop: a queue served by one thread. Declared last, so that its
  // destructor runs the last units while work_ is still set.
  ThreadPool loop_;
};

}  // namespace

std::unique_ptr<Piece> MakeEventLoopPiece(const PieceEnv& env) {
  return std::make_unique<EventLoopPiece>(env);
}

}  // namespace pieces
