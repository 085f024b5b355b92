// The five stages of "Rust concurrency: five easy pieces" (the article this
// project comes from), each behind the same Process stream, so that the
// defects of stages 1 to 4 can be seen, tested and measured next to the
// service's own design (work_service --piece=N; see README.md, "The five
// pieces, measured").
//
// A session hands each unit to its Piece and gets the outcome back through a
// callback; the session does not know which stage it runs. What differs is
// only where and how the unit runs:
//
//   1  one event loop: every unit of every session, one at a time, on one
//      thread, in arrival order. No pool, no cache.
//   2  a thread pool, no cache; the session answers Exit at once with Exited
//      (results not yet written are lost).
//   3  a pool and a drain: as 2, but the session writes Exited only after
//      every unit is answered (it counts units in progress and remembers the
//      Exit). No cache: a repeated key is computed again.
//   4  as 3, plus a shared cache checked before computing and filled after,
//      with the computation outside the lock: two overlapping units of one
//      fresh key race, and both may compute it.
//   5  as 4, plus a per-key state and a condition variable
//      (KeyedCache::GetOrCompute): a unit that finds its key in progress
//      blocks a pool thread until it is ready. One computation per key, but a
//      hot key ties up one pool thread per waiter.
//
// The service's own design (no --piece) is not a Piece: the session decides
// each unit on arrival without blocking (see session.h), and pays nothing for
// the stages.
#ifndef PIECES_WORK_SERVICE_PIECES_PIECE_H_
#define PIECES_WORK_SERVICE_PIECES_PIECE_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "common/keyed_cache.h"
#include "common/thread_pool.h"
#include "work_service/work_function.h"

namespace pieces {

// One stage of the article.
//
// Thread safety: Run() may be called from any thread, concurrently; it never
// blocks its caller (a gRPC reaction) on the work.
class Piece {
 public:
  // Receives a unit's outcome: computed = the unit ran the work itself
  // (PERFORMED_NEW), waited = it waited for another unit's computation.
  using Done = absl::AnyInvocable<void(KeyedCache::Outcome) &&>;

  virtual ~Piece() = default;

  // Runs the unit of work for `key` and calls `done` with its outcome exactly
  // once, on a thread of the piece (the loop or a pool thread), with no lock
  // of the piece held.
  virtual void Run(uint64_t key, Done done) = 0;

  // Which stage this is, 1 to 5.
  virtual int number() const = 0;
  // Whether the session answers Exit only once every unit is answered
  // (every stage but 2, which answers it at once).
  virtual bool DrainsBeforeExited() const = 0;
  // Threads that run units.
  virtual size_t threads() const = 0;
  // Keys whose value the stage's cache holds (0 without a cache).
  virtual size_t cached_keys() const = 0;
};

// What the stages use of the service. Everything outlives the piece.
struct PieceEnv {
  const WorkFunction* work;
  ThreadPool* pool;   // The service's pool (--threads); stages 2 to 5.
  KeyedCache* cache;  // The service's cache (--cache_capacity); stage 5.
};

inline constexpr int kLastPiece = 5;

// Makes stage `number` (1 to kLastPiece); nullptr for any other number.
std::unique_ptr<Piece> MakePiece(int number, const PieceEnv& env);

// Each stage, in its own file (piece1.cc ... piece5.cc).
std::unique_ptr<Piece> MakeEventLoopPiece(const PieceEnv& env);     // 1
std::unique_ptr<Piece> MakePoolPiece(const PieceEnv& env);          // 2
std::unique_ptr<Piece> MakeDrainingPiece(const PieceEnv& env);      // 3
std::unique_ptr<Piece> MakeRacyCachePiece(const PieceEnv& env);     // 4
std::unique_ptr<Piece> MakeKeyedCondVarPiece(const PieceEnv& env);  // 5

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_PIECES_PIECE_H_
