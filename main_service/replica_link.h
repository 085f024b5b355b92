// The long-lived WorkService.Process sessions main_service keeps to one
// work_service replica, shared by every call that has keys there.
//
// A call hands the link its units for this replica (Send); the link sends
// them, with the units of the other calls, over a few sessions that stay open
// for as long as main_service runs. Each session has one write in flight:
// when a write completes, whatever units wait (of any call) go out in one
// WorkBatch, so concurrent calls share messages without any timer. Ids are
// numbered 0, 1, 2, ... per session, and each maps back to (call, position);
// results come back with the position as their id.
//
// No call holds back another: a session carries at most `window` units
// unanswered (below work_service's --max_in_flight, so that it always reads,
// and a Cancel is never stuck behind units), and one call has at most
// `per_owner` of them in flight on the link; calls take turns when a batch is
// filled. So a small call's units go out with the next write even while a
// 100,000-key call is running, and once a cached key reaches work_service it
// is answered at once.
//
// Failure: when a session fails, its unanswered units are returned to their
// calls (Owner::OnLost) with its status; the calls decide what to do (re-send
// them to another replica after UNAVAILABLE, or fail). A session the replica
// cancels (a stopping server cancels its calls) counts as UNAVAILABLE. When the
// replica drains (it sends Draining: it got SIGTERM), its sessions take no new
// units: the units not yet sent are returned as lost with UNAVAILABLE at once,
// the ones sent are still answered, and each session then sends Exit and ends;
// until they all have, units sent to the link are lost at once.
//
// Threads: the sessions are gRPC async calls whose events complete on the
// queue of Options::queue; the one thread that takes that queue's events
// (main_service's) runs their reactions. Send, Release, Cancel and Close may
// be called from any thread. Owner methods are called with no lock held, for
// one owner possibly from several threads at once. All state is guarded by
// mu_; gRPC operations are decided under mu_ and started after releasing it.
//
// Lifetime: owned by shared_ptr (the replica's WorkReplica holds it, and
// each running session holds it too). Its owner must hold it while any
// session runs (WorkReplicas keeps every link until it is destroyed, after
// Close, which returns only once every session is deleted), and the queue's
// thread must take events until then. An owner must stay alive until each
// unit it sent is answered (OnResult), lost (OnLost) or dropped (counted by
// the Cancel that dropped it).
#ifndef PIECES_MAIN_SERVICE_REPLICA_LINK_H_
#define PIECES_MAIN_SERVICE_REPLICA_LINK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "grpcpp/grpcpp.h"
#include "main_service/event_queue.h"
#include "pieces/v1/work_service.grpc.pb.h"

namespace pieces {

class ReplicaLink : public std::enable_shared_from_this<ReplicaLink>,
                    public EventQueue::Held {
 public:
  struct Options {
    // The queue of every session (shared by the links of one main_service).
    // Must be set (and its queue) before the first unit is sent; its thread
    // takes the sessions' events, and writes planned on it are held until
    // it has no event ready (event_queue.h).
    std::shared_ptr<EventQueue> queue;
    // The most sessions open to the replica at once. One is opened when
    // units wait and every open one is writing or full.
    size_t sessions = 1;
    // The most units unanswered on one session. Keep it below
    // work_service's --max_in_flight (1024 by default).
    size_t window = 512;
    // The most units of one call unanswered on the link (for RunStream, also
    // counting the results its caller has not taken yet).
    size_t per_owner = 256;
  };

  // One unit: a key and its position in the call's request.
  struct Unit {
    uint32_t position;
    uint64_t key;
  };

  // A call whose units the link carries.
  class Owner {
   public:
    virtual ~Owner() = default;
    // Whether the owner holds its results until its caller has taken them
    // (RunStream): then each result keeps one place of the owner's share on
    // the link until the owner gives it back (Release), so that a caller who
    // does not read stops its units from being sent. Asked once per link.
    virtual bool HoldsResults() const { return false; }
    // The result of one unit; result->id() is the unit's position. The owner
    // may take its contents. An owner that HoldsResults must Release it (even
    // one it drops), unless it has called Cancel.
    virtual void OnResult(ReplicaLink* link, v1::Result* result) = 0;
    // Units the link will not answer: their session ended with `status`
    // before their results came (UNAVAILABLE when the replica went away or
    // is draining). `replica` is the replica's name.
    virtual void OnLost(std::vector<Unit> units, const std::string& replica,
                        const grpc::Status& status) = 0;
  };

  // `name` is the replica's ("ip:port"); `channel` reaches it.
  ReplicaLink(std::string name, std::shared_ptr<grpc::Channel> channel,
              const Options& options);
  ~ReplicaLink();

  const std::string& name() const { return name_; }

  // Sends `units` of `owner`, after those it sent before. Keeps them until
  // they are sent: taken by value, they are moved in when none wait.
  void Send(Owner* owner, std::vector<Unit> units) ABSL_LOCKS_EXCLUDED(mu_);

  // Gives back `n` places of `owner`'s share taken by results it held (see
  // Owner::HoldsResults): its caller has taken them.
  void Release(Owner* owner, size_t n) ABSL_LOCKS_EXCLUDED(mu_);

  // Gives up every unit of `owner`: returns how many were still waiting to
  // be sent, which are dropped (never answered nor lost). The ones already
  // sent are cancelled on the replica and still come back, through OnResult
  // (mostly with a CANCELLED error) or OnLost.
  size_t Cancel(Owner* owner) ABSL_LOCKS_EXCLUDED(mu_);

  // Ends every session: each sends Exit once its units are answered, and
  // gets Exited. Waits until all have ended or `deadline` passes, then
  // cancels the rest and waits for them. Units sent afterwards are lost
  // (UNAVAILABLE).
  struct Closed;
  Closed Close(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Close in two steps, to close several links at once: StartClose returns
  // at once, AwaitClosed waits as Close does.
  // AwaitClosed returns how many sessions ended with Exited (since the link
  // was made) and how many it had to cancel.
  struct Closed {
    size_t exited = 0;
    size_t cancelled = 0;
  };
  void StartClose() ABSL_LOCKS_EXCLUDED(mu_);
  Closed AwaitClosed(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Starts the writes held (EventQueue::Held); on the queue's thread.
  void Flush() override ABSL_LOCKS_EXCLUDED(mu_);

  // Units sent and not yet answered, and sessions open; for tests and stats.
  size_t in_flight() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t sessions() const ABSL_LOCKS_EXCLUDED(mu_);

  // Units written to the replica, and results received from it, since the
  // link was made; for /metrics. Each is exact, read from any thread.
  uint64_t units_sent() const {
    return units_sent_.load(std::memory_order_relaxed);
  }
  uint64_t units_answered() const {
    return units_answered_.load(std::memory_order_relaxed);
  }

 private:
  class Session;
  // The units of one owner on this link.
  struct Queue {
    Owner* owner;
    std::vector<Unit> units;  // To send, from `next` on.
    size_t next = 0;
    size_t in_flight = 0;  // Sent, not yet answered or lost.
    size_t held = 0;       // Answered, held by an owner that HoldsResults.
    bool holds = false;    // owner->HoldsResults().
    bool cancelled = false;
    bool ready = false;  // In ready_.
    // Places of the owner's share in use.
    size_t used() const { return in_flight + held; }
    size_t waiting() const { return units.size() - next; }
  };
  // Where the answer of a unit in flight goes.
  struct Slot {
    Queue* queue;
    Unit unit;
  };
  // gRPC operations decided under mu_, started after releasing it.
  struct Ops;

  // Puts `queue` in turn to send if it has units waiting and room.
  void MakeReadyLocked(Queue* queue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees `queue` if it holds nothing any more.
  void ForgetIfIdleLocked(Queue* queue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Plans a write (units, cancels, or the half-close) on each session that
  // can take one; if units still wait and every session is busy, opens
  // another.
  void PlanWritesLocked(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PlanWritesLocked, or on the queue's thread, once it has no event ready
  // (Flush).
  void PlanWritesSoonLocked(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills the session's next message from what waits; false if nothing.
  bool FillLocked(Session* session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes every unit that waits to be sent; for a replica that drains.
  void TakeWaitingLocked(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Execute(Ops& ops) ABSL_LOCKS_EXCLUDED(mu_);

  // Session events, on the queue's thread.
  void OnMessage(Session* session) ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(Session* session, bool ok) ABSL_LOCKS_EXCLUDED(mu_);
  void OnReadEnded(Session* session) ABSL_LOCKS_EXCLUDED(mu_);
  void OnSessionDone(Session* session) ABSL_LOCKS_EXCLUDED(mu_);
  // One of the session's operations is over (its event came, or it was
  // decided and needs no event): deletes the session once it is done and
  // has no operation left.
  void OperationOver(Session* session) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const std::string name_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::WorkService::Stub> stub_;
  const Options options_;

  mutable absl::Mutex mu_;
  // Open sessions (removed when done).
  std::vector<Session*> sessions_ ABSL_GUARDED_BY(mu_);
  // The owners with units here, waiting or in flight.
  absl::flat_hash_map<Owner*, std::unique_ptr<Queue>> queues_
      ABSL_GUARDED_BY(mu_);
  // Queues whose turn it is to send, in order.
  std::deque<Queue*> ready_ ABSL_GUARDED_BY(mu_);
  // Units waiting to be sent, over every queue.
  size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  // A Flush is due (the link is in the queue's held list).
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  // Close has started: no new session, no new unit.
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // The replica sent Draining: new units are lost (UNAVAILABLE) at once,
  // until every session to it has ended.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Sessions done and not yet deleted.
  int dying_ ABSL_GUARDED_BY(mu_) = 0;
  // Sessions that ended with Exited and OK.
  size_t exited_ ABSL_GUARDED_BY(mu_) = 0;

  // Added to under mu_, read with no lock (units_sent, units_answered).
  std::atomic<uint64_t> units_sent_{0};
  std::atomic<uint64_t> units_answered_{0};
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_REPLICA_LINK_H_
