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
// Write coalescing, in two parts, so that gRPC sends many answers in one
// system call instead of one each:
//   - a write is started with gRPC's buffer hint while more answers wait
//     behind it; the last answer queued is written without the hint, which
//     sends whatever was held back. A stream's first write is never hinted:
//     it carries the response headers, which gRPC would hold back too.
//   - a write that would send (no hint), planned in a reaction on the
//     completion-queue thread (a read or a write has come back), waits until
//     that thread finds no event ready (DeferredWrites, below): the answers
//     to every message gRPC has read by then go out together. Nothing waits
//     for a later event that may never come, so a client that sends one Work
//     at a time and waits for each Result is answered as before.
//
// Cancel: a session may be long-lived and carry the units of many client
// calls, so the client can give up units (WorkMsg.cancel). Each listed id is
// handled on its own, in order:
//   - a unit claimed whose pool task has not started, or a unit parked on
//     another unit's computation, is answered at once with a Result whose
//     error is CANCELLED ("cancelled by the client") and counted in
//     Stats.cancelled. When the claimed unit's pool task runs, it gives the
//     claim up if nobody waits for the key, else it computes the key for the
//     waiters (who get it FROM_CACHE) and drops its own outcome; a parked
//     unit's outcome is dropped when it comes;
//   - a unit computing now finishes, fills the cache and is answered as usual;
//   - an id already answered (its Result queued or written, or already
//     cancelled) is ignored;
//   - an id never sent in this session ends the session with
//     INVALID_ARGUMENT, and so does a Cancel listing no id: both are client
//     bugs, and a client that cannot tell which units it sent cannot trust
//     its results either.
// A Cancel may come after Exit (the client waits for the Exited and no
// longer wants some results). Only units that were claimed or parked are
// tracked for this (units_); a unit answered from the cache on arrival costs
// nothing more, so the hit path is as cheap as without Cancel.
//
// Draining: when the service stops, SessionRegistry::Drain has every open
// session, and every session opened afterwards, write one ResultMsg{draining}
// as its next write (at most once, and never after the Exited). The notice is
// advisory: Work received after it is accepted and answered as usual, and
// the session still ends with Exited after Exit or a half-close.
//
// Threads: the session is served through gRPC's async API (see
// async_bidi_stream.h): the constructor and OnReadDone/OnWriteDone/OnCancel/
// OnDone run on the work service's one completion-queue thread, which every
// session shares, so they never block (the cache lookup holds its lock only
// to read or claim). RunUnit and the parked units' continuations run on the
// pool; HoldForDrain and WriteDraining on the thread that drains the service.
// Each of these may start gRPC operations (StartRead, StartWrite, Finish);
// their reactions come later, on the completion-queue thread. Lock order: the
// registry's lock, then mu_, then the cache's lock; the cache runs
// continuations with its lock released. All state is guarded by mu_, and no
// gRPC operation is started with mu_ (or the registry's lock) held: the
// async API runs no reaction inline, but a session written this way does
// not depend on that, and its locks stay short.
//
// The article's stages (work_service --piece=N, work_service/pieces/): when
// SessionEnv::piece is set, each unit is handed to it on arrival instead of
// to the cache and pool, and the piece answers it through Deliver; Cancel then
// gives up nothing (the ids are known, so it is ignored) and, for a piece that
// does not drain, Exit is answered with Exited at once, the results not yet
// written being dropped. The own design (no piece) pays a null check per
// unit for this, no indirect call.
//
// Lifetime: the session is created by WorkServiceImpl when a Process call
// arrives, on the completion-queue thread, and deletes itself once gRPC is
// done with it (OnDone, which comes after the call's context and stream are
// freed) and nothing else holds it: no pool task or parked continuation
// refers to it and no Drain is notifying it.
#ifndef PIECES_WORK_SERVICE_SESSION_H_
#define PIECES_WORK_SERVICE_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/keyed_cache.h"
#include "common/thread_pool.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/work.pb.h"
#include "pieces/v1/work_service.grpc.pb.h"  // The messages' serialization.
#include "work_service/async_bidi_stream.h"
#include "work_service/pieces/piece.h"
#include "work_service/seen_ids.h"
#include "work_service/session_record.h"
#include "work_service/unit_times.h"
#include "work_service/work_function.h"
#include "work_service/work_stats.h"

namespace pieces {

class Session;

// The open sessions of one work service, so that Drain reaches each of them.
//
// Thread safety: all methods may be called from any thread. Its lock is
// taken before a session's, and no gRPC operation is started under it.
class SessionRegistry {
 public:
  SessionRegistry() = default;
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // Adds a session that is being constructed; returns whether the service is
  // draining already (the session then writes Draining at once).
  bool Add(Session* session) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a session, from its OnDone. Once it returns, Drain no longer
  // reaches the session.
  void Remove(Session* session) ABSL_LOCKS_EXCLUDED(mu_);
  // Marks the service draining and has every open session write Draining as
  // soon as it can. Called once the service is stopping; later calls do
  // nothing more. Does not wait for the writes.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until no session is open (each has run its OnDone, after which it
  // starts no gRPC operation, from any thread). For the service's stop,
  // before its completion queue is shut down: an operation started on a shut
  // down queue stops the process.
  void AwaitNone() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<Session*> sessions_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

// Sessions whose next write waits until the completion-queue thread finds
// no event ready (see "Write coalescing" above). Touched only on that thread,
// so it has no lock: Session adds itself from its reactions, and the thread
// calls WriteAll when the queue has nothing ready, before it blocks.
class DeferredWrites {
 public:
  bool empty() const { return sessions_.empty(); }
  // `session` holds itself for this (Session::holds_) until WriteAll.
  void Add(Session* session) { sessions_.push_back(session); }
  // Starts every deferred write, and lets go of the sessions.
  void WriteAll();

 private:
  std::vector<Session*> sessions_;
};

// What every session of one work service shares. Outlives the sessions.
struct SessionEnv {
  ThreadPool* pool;
  KeyedCache* cache;
  const WorkFunction* work;
  WorkStats* stats;
  SessionRegistry* registry;
  // The article's stage that runs the units, or nullptr for the service's
  // own design (the cache and pool above).
  Piece* piece;
  // With a piece that does not drain (stage 2): Exit is answered with Exited
  // at once, and results not yet written are lost.
  bool exited_at_once;
  // The completion-queue thread's deferred writes.
  DeferredWrites* deferred_writes;
  // Units of one session received and not yet answered, at most. When
  // reached, the session stops reading until results drain, so that HTTP/2
  // flow control pushes back on the client.
  size_t max_in_flight;
  // Each unit's time from arrival to answer (for /metrics).
  UnitTimes* unit_times;
};

// How a session talks to gRPC: one Process call through the async API.
using SessionStream = AsyncBidiStream<v1::WorkMsg, v1::ResultMsg>;

class Session final : public SessionStream {
 public:
  // Serves `call`, which has arrived.
  Session(const SessionEnv& env, std::unique_ptr<Call> call);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // For SessionRegistry::Drain, with the registry's lock held: marks the
  // session draining and holds it (it is not freed) until WriteDraining.
  void HoldForDrain() ABSL_LOCKS_EXCLUDED(mu_);
  // Then, with no lock held: starts the Draining write if no write is in
  // flight, and lets go of the session (which may free it).
  void WriteDraining() ABSL_LOCKS_EXCLUDED(mu_);
  // For DeferredWrites::WriteAll, on the completion-queue thread: starts the
  // deferred write and lets go of the session (which may free it).
  void WriteDeferred() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One unit of work: what its Result needs of the Work.
  struct Unit {
    uint64_t id;
    uint64_t key;
  };

  // Where the stream stands. It only moves forward.
  enum class Phase : uint8_t {
    kReading,    // Takes work.
    kExiting,    // Exit came (or the client half-closed): takes no more work,
                 // answers the units it has, then writes Exited. (Not to be
                 // confused with the Draining notice, when the service stops.)
    kFinishing,  // The end is decided (finish_status_): once no write or read
                 // is about to start, Finish.
    kFinished,   // Finish has started; waits for OnDone.
    kDone,       // OnDone has run: the last hold frees the session.
  };

  // Where a unit that costs a computation or a wait stands, until answered.
  enum class UnitState : uint8_t {
    kQueued,     // Claimed its key; its pool task has not started.
    kComputing,  // Claimed its key; its pool task is computing it.
    kParked,     // Waits for another unit's computation of its key.
    kCancelled,  // Was queued or parked, then cancelled and answered so; its
                 // pool task or continuation only cleans up.
  };
  struct Tracked {
    uint64_t key;
    UnitState state;
    int64_t arrived;  // UnitTimes::Now() when the Work came.
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
    // Set by the caller: the plan is made in a reaction on the
    // completion-queue thread, so a write that would send may wait for
    // DeferredWrites.
    bool may_defer_write = false;
    // The session is to be added to DeferredWrites (and holds itself).
    bool defer_write = false;
    bool read = false;
    bool write = false;
    // Write with gRPC's buffer hint: more answers are queued behind it.
    bool write_hint = false;
    std::optional<grpc::Status> finish;
    // Write out_ (the Exited) and finish with OK in one operation; it has no
    // OnWriteDone.
    bool write_and_finish = false;
    // Claimed keys, to hand to the pool (or every unit, to the piece).
    std::vector<Unit> units;

    bool Empty() const {
      return !defer_write && !read && !write && !finish.has_value() &&
             !write_and_finish && units.empty();
    }
  };

  ~Session() override = default;

  // Handles one message from the client.
  void HandleMessage(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes one unit for the pool; ends the session and returns false if it
  // breaks the session's rules.
  bool AcceptWork(const v1::Work& work, Ops& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives up the units listed in a Cancel (see the top of this file); ends
  // the session if the Cancel breaks the session's rules.
  void AcceptCancel(const v1::Cancel& cancel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the answers not yet written: they will never be.
  void DropQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the session with `status` (the first call wins): results not yet
  // written are dropped, units not yet started are skipped.
  void FinishWith(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the next message to write in out_: the Draining notice once it is
  // wanted, else queued results (one, or all in a batch for a batching
  // client), else the Exited once it is due. Returns false if there is
  // nothing to write. Only while no write is in flight.
  bool NextMessage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the next write would carry queued results and be started
  // without the buffer hint (so would make gRPC send). Only while no write is
  // in flight.
  bool NextWriteSends() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decides which gRPC operations can start now.
  void Plan(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the operations in `ops`, then plans again until nothing is left.
  void Execute(Ops ops) ABSL_LOCKS_EXCLUDED(mu_);

  // Hands `units` to the pool (RunUnit) or to the piece.
  void Hand(const std::vector<Unit>& units) ABSL_LOCKS_EXCLUDED(mu_);
  // Computes a unit's claimed key on a pool thread and hands its outcome to
  // Deliver (or gives the claim up if the session has ended or the unit was
  // cancelled, and nobody waits for the key).
  void RunUnit(Unit unit) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a unit's cache outcome in the stats and makes its answer.
  Answer MakeAnswer(Unit unit, KeyedCache::Outcome outcome) const;
  // Fills `result` (cleared) with `answer`.
  static void FillResult(const Answer& answer, v1::Result* result);
  // Called on the pool once a claimed or parked unit is over, on the unit's
  // thread or on the thread that computed the key it was parked on (or on
  // the piece's thread), with its outcome, or none if it was skipped. Queues
  // its answer, unless the session has ended or the unit was cancelled (then it
  // was answered already). Lets go of the unit's hold.
  void Deliver(Unit unit, std::optional<KeyedCache::Outcome> outcome)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Lets go of one hold: returns true if it was the last reference (the
  // caller then deletes the session once mu_ is released, in AfterLetGo);
  // else plans the next operations into `ops`.
  bool LetGo(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After LetGo, with mu_ released: deletes the session if `last`, else
  // starts `ops`.
  // Static, and called as AfterLetGo(this, ...): once mu_ is released,
  // `session` may already be freed (by OnDone on the completion-queue
  // thread), and even a
  // member call on a freed object is undefined (UBSan's vptr check reads it).
  static void AfterLetGo(Session* session, bool last, Ops ops);

  // Constant after construction.
  const SessionEnv env_;

  // Touched only by the one read in flight and by OnReadDone: the message
  // being read.
  v1::WorkMsg in_;
  // Touched only while `writing_` and by NextMessage, which reuses the Result
  // objects left in it: the message being written.
  v1::ResultMsg out_;

  absl::Mutex mu_;
  // State below is protected by mu_.

  // The stream: where it stands, and the operations in flight.
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kReading;
  // Set on entering kFinishing.
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;      // A read is in flight.
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;  // No more reads.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;      // A write is in flight.
  bool wrote_ ABSL_GUARDED_BY(mu_) = false;        // A write has been started.
  // In DeferredWrites: the next write waits for it.
  bool write_deferred_ ABSL_GUARDED_BY(mu_) = false;
  int starting_ ABSL_GUARDED_BY(mu_) = 0;  // Ops decided but not yet started.
  bool batched_ ABSL_GUARDED_BY(mu_) = false;  // The client sent a batch.
  bool exited_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_wanted_ ABSL_GUARDED_BY(mu_) = false;  // The service stops.
  bool draining_sent_ ABSL_GUARDED_BY(mu_) = false;

  // The units: what came, what waits to be written, counters.
  SeenIds ids_ ABSL_GUARDED_BY(mu_);
  std::deque<Answer> queue_ ABSL_GUARDED_BY(mu_);  // Answers to write.
  // Units claimed or parked and not yet answered, by id (units answered on
  // arrival are never in it); also cancelled ones until their pool task or
  // continuation is over.
  absl::flat_hash_map<uint64_t, Tracked> units_ ABSL_GUARDED_BY(mu_);
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;   // Received, not yet answered.
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;  // Results written.
  // Counts and times the units, and logs the session's end.
  SessionRecord record_ ABSL_GUARDED_BY(mu_);

  // The session's own lifetime: holders of `this` besides gRPC (pool tasks,
  // parked continuations, the piece's callbacks, a Drain notifying the
  // session and DeferredWrites). The last one frees it once phase_ is kDone.
  size_t holds_ ABSL_GUARDED_BY(mu_) = 0;

  // At most this many results go in one ResultBatch (about 40 kB).
  static constexpr size_t kMaxResultsPerBatch = 2048;
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_SESSION_H_
