// The life of one Run or RunStream call: its keys go out as units, each to
// the replica that owns its key (router.h), on that replica's shared sessions
// (replica_link.h); each result comes back to the call once; the call ends
// when every key is answered, or fails, or is cancelled.
//
// Unit i is keys[i]; its Result has id i. When a replica's session fails with
// UNAVAILABLE (the replica died, is unreachable, or is draining), the replica
// is reported down and the call's units it had not answered are sent again
// to the replicas that own them among those that have not failed in this
// call; only when none is left does the call fail with UNAVAILABLE. Any other
// failure of a session (a refused session, a protocol error) fails the call
// with it. When the call ends early (failure, the caller's cancellation or
// deadline), its units still unanswered are cancelled on the replicas
// (WorkMsg.cancel), so that work_service gives up the ones not started.
//
// A subclass is the gRPC reactor: it receives each result (Take), and the end
// (End), and tells the call when gRPC is done with it (ReactorDone). The call
// frees itself once gRPC is done and every unit it sent is answered or lost:
// the links refer to it until then.
//
// Threads: Start on main_service's queue thread, when the call arrives;
// OnResult and OnLost on that thread, or (units lost when the links close)
// on the thread that closes them; Abort on any. Take is called with mu_ held;
// Flush and End with no lock.
#ifndef PIECES_MAIN_SERVICE_CALL_H_
#define PIECES_MAIN_SERVICE_CALL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/repeated_field.h"
#include "grpcpp/grpcpp.h"
#include "main_service/key_budget.h"
#include "main_service/replica_link.h"
#include "main_service/work_replicas.h"
#include "pieces/v1/work.pb.h"

namespace pieces {

class Call : public ReplicaLink::Owner {
 public:
  // Counters over every call of one main_service.
  struct Counters {
    // Units sent again to another replica after theirs became unavailable.
    std::atomic<uint64_t> units_resent{0};
    // Keys of the calls started.
    std::atomic<uint64_t> keys{0};
  };

  void OnResult(ReplicaLink* link, v1::Result* result) final
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnLost(std::vector<ReplicaLink::Unit> units, const std::string& replica,
              const grpc::Status& status) final ABSL_LOCKS_EXCLUDED(mu_);

  // Takes `n` keys from the service's budget for the call's life (given back
  // when it is freed); RESOURCE_EXHAUSTED, saying why, if they do not fit.
  // Once, before Start, by the thread that made the call.
  grpc::Status Admit(size_t n);

 protected:
  // `replicas`, `counters` and `budget` must outlive the call.
  Call(WorkReplicas* replicas, Counters* counters, KeyBudget* budget);
  ~Call() override;

  // Sends every key of `keys` (not empty) to its replica. Once.
  void Start(const google::protobuf::RepeatedField<uint64_t>& keys)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Ends the call with `status` unless it has ended, and cancels its units
  // (the caller went away, its deadline passed, or a write to it failed).
  void Abort(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  // gRPC is done with the call (the reactor's OnDone). Frees the call once
  // no unit is left.
  void ReactorDone() ABSL_LOCKS_EXCLUDED(mu_);

  // A result for the caller, result->id() being its position, from `link`:
  // each position once, never after End. May take its contents. A call that
  // HoldsResults gives its place back with link->Release once its caller
  // has it.
  virtual void Take(ReplicaLink* link, v1::Result* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // Called after Take, with no lock: start what the result made possible.
  virtual void Flush() ABSL_LOCKS_EXCLUDED(mu_) {}
  // Called once: every result was taken (OK), or the call failed.
  virtual void End(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) = 0;

  absl::Mutex mu_;

 private:
  // Units for one replica, to send.
  struct Batch {
    std::shared_ptr<ReplicaLink> link;
    std::vector<ReplicaLink::Unit> units;
  };
  using Batches = absl::InlinedVector<Batch, 4>;

  // Groups `units` by the replica that owns them among those not failed in
  // this call; false if there is none.
  // Unit i of the `n` is unit_at(i).
  bool RouteLocked(size_t n,
                   absl::FunctionRef<ReplicaLink::Unit(size_t)> unit_at,
                   Batches* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `batches`, then cancels them again if the call ended meanwhile.
  void Send(Batches& batches) ABSL_LOCKS_EXCLUDED(mu_);
  // Marks the call ended; false if it had ended. The caller then calls End
  // (and CancelUnits) with no lock held.
  bool EndLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives up every unit on the links this call used.
  void CancelUnits() ABSL_LOCKS_EXCLUDED(mu_);
  // The status for a failure on `replica`, naming it.
  grpc::Status Describe(const std::string& replica,
                        const grpc::Status& status) const;
  // The status when no replica is left.
  grpc::Status NoReplicaLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops `n` references; the last frees the call.
  void Unref(size_t n) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  WorkReplicas* const replicas_;
  Counters* const counters_;
  KeyBudget* const budget_;
  // Keys taken from budget_; set by Admit, before any other thread sees the
  // call.
  size_t admitted_ = 0;

  // Units of the call, their results all taken when answered_ == size_.
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
  size_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  // One per unit not yet answered or lost, one for the reactor, one per
  // thread inside Start, OnLost or Abort that still uses the call.
  size_t refs_ ABSL_GUARDED_BY(mu_) = 1;
  // End has been called, or is being called.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // The links this call has sent units to (kept alive for Cancel).
  absl::InlinedVector<std::shared_ptr<ReplicaLink>, 4> links_
      ABSL_GUARDED_BY(mu_);
  // The view the call routes with, taken at the start and after failures.
  std::shared_ptr<const ReplicaView> view_ ABSL_GUARDED_BY(mu_);
  // Names of the replicas that failed in this call, and why the last did.
  std::vector<std::string> failed_replicas_ ABSL_GUARDED_BY(mu_);
  std::string failure_detail_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_CALL_H_
