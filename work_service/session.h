// One WorkService.Process stream: a session of units of work.
//
// The session reads WorkMsg from the client, one read in flight. Each Work is
// looked up in the shared KeyedCache as it arrives (a short lock, never a
// wait): a cached key is answered at once; the first unit for an absent key
// claims it and is computed on the thread pool; a unit whose key is in
// progress parks until the pool thread computing that key completes it. So
// the first of several equal keys in arrival order is the one computed, and a
// hot key ties up one pool thread, not one per waiter. The pool thread hands
// the Result back to the session's write queue; one write is in flight at a
// time. After Exit (or the client half-closing) and once every unit's Result
// has been written, the session writes one Exited and finishes with OK.
//
// Threads: OnReadDone/OnWriteDone/OnCancel/OnDone run on gRPC's threads and
// never block (the cache lookup holds its lock only to read or claim). RunUnit
// and the parked units' continuations run on the pool. Lock order: mu_, then
// the cache's lock; the cache runs continuations with its lock released. All
// state is guarded by mu_, and no gRPC operation (StartRead, StartWrite,
// Finish) is started with mu_ held, because gRPC may run a reaction inline from
// inside that call.
//
// Lifetime: the session is created by WorkServiceImpl::Process and deletes
// itself once gRPC is done with it (OnDone) and no pool task refers to it.
#ifndef PIECES_WORK_SERVICE_SESSION_H_
#define PIECES_WORK_SERVICE_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/keyed_cache.h"
#include "common/thread_pool.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/work.pb.h"
#include "work_service/seen_ids.h"
#include "work_service/work_function.h"
#include "work_service/work_stats.h"

namespace pieces {

// What every session of one work service shares. Outlives the sessions.
struct SessionEnv {
  ThreadPool* pool;
  KeyedCache* cache;
  const WorkFunction* work;
  WorkStats* stats;
  // Units of one session received and not yet answered, at most. When
  // reached, the session stops reading until results drain, so that HTTP/2
  // flow control pushes back on the client.
  size_t max_in_flight;
};

class Session final
    : public grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg> {
 public:
  explicit Session(const SessionEnv& env);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // One unit of work: what its Result needs of the Work.
  struct Unit {
    uint64_t id;
    uint64_t key;
  };

  // A unit's answer, waiting to be written. Kept this small and turned into
  // a Result only when it is written, into the Result objects of out_, which
  // are reused from one message to the next: no allocation per unit.
  struct Answer {
    Unit unit;
    KeyedCache::Outcome outcome;
  };

  // gRPC operations decided under mu_, started after releasing it.
  struct Ops {
    bool read = false;
    bool write = false;
    std::optional<grpc::Status> finish;
    // Write out_ (the Exited) and finish with OK in one operation; it has no
    // OnWriteDone.
    bool write_and_finish = false;
    std::vector<Unit> units;  // Claimed keys, to hand to the pool.

    bool Empty() const {
      return !read && !write && !finish.has_value() && !write_and_finish &&
             units.empty();
    }
  };

  ~Session() override = default;

  // Handles one message from the client.
  void HandleMessage(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes one unit for the pool; ends the session and returns false if it
  // breaks the session's rules.
  bool AcceptWork(const v1::Work& work, Ops& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the session with `status` (the first call wins): results not yet
  // written are dropped, units not yet started are skipped.
  void FinishWith(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the next message to write in out_: queued results (one, or all in a
  // batch for a batching client), else the Exited once it is due. Returns
  // false if there is nothing to write. Only while no write is in flight.
  bool NextMessage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decides which gRPC operations can start now.
  void Plan(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the operations in `ops`, then plans again until nothing is left.
  void Execute(Ops ops) ABSL_LOCKS_EXCLUDED(mu_);

  // Computes a unit's claimed key on a pool thread and hands its answer to
  // the write queue (or drops the claim if the session has ended and nobody
  // waits for the key).
  void RunUnit(Unit unit) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a unit's cache outcome in the stats and makes its answer.
  Answer MakeAnswer(Unit unit, KeyedCache::Outcome outcome) const;
  // Fills `result` (cleared) with `answer`.
  static void FillResult(const Answer& answer, v1::Result* result);
  // Called on the pool once a unit is over, on the unit's thread or on the
  // thread that computed the key it was parked on; `answer` is empty for a
  // unit that was skipped. Deletes the session if it was the last reference.
  void Deliver(std::optional<Answer> answer) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const SessionEnv env_;

  absl::Mutex mu_;
  // The message being read; touched only by the one read in flight and by
  // OnReadDone.
  v1::WorkMsg in_;
  // The message being written; touched only while `writing_` and by
  // NextMessage, which reuses the Result objects left in it.
  v1::ResultMsg out_;
  SeenIds ids_ ABSL_GUARDED_BY(mu_);
  // At most this many results go in one ResultBatch (about 40 kB).
  static constexpr size_t kMaxResultsPerBatch = 2048;

  std::deque<Answer> queue_ ABSL_GUARDED_BY(mu_);  // Answers to write.
  bool batched_ ABSL_GUARDED_BY(mu_) = false;      // The client sent a batch.
  bool reading_ ABSL_GUARDED_BY(mu_) = false;      // A read is in flight.
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;  // No more reads.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;      // A write is in flight.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;  // Ops decided but not yet started.
  bool exit_received_ ABSL_GUARDED_BY(mu_) = false;
  bool exited_sent_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  bool finish_started_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;       // OnDone has run.
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;   // Received, not yet answered.
  size_t tasks_ ABSL_GUARDED_BY(mu_) = 0;        // Pool tasks holding `this`.
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;  // Results written.
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_SESSION_H_
