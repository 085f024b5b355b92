// Runs the units of one Run or RunStream call on the work service replicas.
//
// Unit i is Work{id = i, key = keys[i]}. Each unit goes to the replica that
// owns its key by rendezvous hashing (rendezvous.h) among the replicas that
// are up; each replica involved gets one WorkService.Process session
// (work_session.h) with its units, and the sessions run in parallel.
//
// When a session fails with UNAVAILABLE (the replica died, or is
// unreachable), the replica is reported down and the units it had not
// answered are sent again, in new sessions, to the replicas that own them
// among those that have not failed in this call. Every unit is answered to
// the receiver exactly once. Only when no replica is left does the call fail
// with UNAVAILABLE. Any other failure of a session (the caller's deadline or
// cancellation, a refused session, a protocol error) ends the call with that
// failure and cancels the other sessions.
//
// Threads: Start runs on the caller's thread; the sessions' reactions on
// gRPC's threads, several at once (one per session). Receiver::OnResult is
// called once per unit, possibly concurrently from different sessions, never
// for the same unit twice; Receiver::OnDispatchDone once, after every
// OnResult. The Dispatch and its receiver must stay alive until
// OnDispatchDone; the receiver may free both from there (nothing in the
// Dispatch runs after that call).
#ifndef PIECES_MAIN_SERVICE_DISPATCH_H_
#define PIECES_MAIN_SERVICE_DISPATCH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/repeated_field.h"
#include "grpcpp/grpcpp.h"
#include "main_service/work_replicas.h"
#include "main_service/work_session.h"
#include "pieces/v1/work.pb.h"

namespace pieces {

class Dispatch {
 public:
  class Receiver {
   public:
    virtual ~Receiver() = default;
    // The result of unit result->id(). The receiver may take its contents
    // (swap them out); the Dispatch does not look at it again.
    virtual void OnResult(v1::Result* result) = 0;
    // Every unit is answered (OK) or the call failed (`status`).
    virtual void OnDispatchDone(const grpc::Status& status) = 0;
  };

  // Counters over every Dispatch of one main_service.
  struct Counters {
    // Units sent again to another replica after theirs became unavailable.
    std::atomic<uint64_t> units_resent{0};
  };

  // `caller` is the server context of the call; each session's client
  // context is made from it, carrying its deadline and cancellation.
  // `replicas` and `counters` must outlive the Dispatch.
  Dispatch(WorkReplicas* replicas, Counters* counters,
           const grpc::CallbackServerContext* caller, Receiver* receiver);
  ~Dispatch();

  // Starts the sessions for `keys`, which must stay alive and unchanged
  // until OnDispatchDone.
  void Start(const google::protobuf::RepeatedField<uint64_t>* keys)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Cancels every session (the caller went away). Safe from any thread, any
  // time before OnDispatchDone.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One session to one replica.
  class Leg;
  // Legs started together; a call rarely involves more than a few replicas.
  using LegList = absl::InlinedVector<Leg*, 4>;

  // Routes `units` (ids; null means every unit, as Start does) among the
  // replicas up and not failed in this call, and adds one leg per replica
  // involved to `legs`. False, with failure_ set to UNAVAILABLE (unless it
  // was set already), when no replica is left.
  bool RouteLocked(const std::vector<uint32_t>* units, LegList* legs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts `legs`, then drops the hold the caller took.
  void StartAndRelease(const LegList& legs) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the call with `status` (the first failure wins) and returns the
  // contexts of the legs to cancel.
  std::vector<grpc::ClientContext*> FailLocked(grpc::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops one hold; the last one calls OnDispatchDone.
  void Release() ABSL_LOCKS_EXCLUDED(mu_);

  void OnLegMessage(Leg* leg, v1::ResultMsg* message) ABSL_LOCKS_EXCLUDED(mu_);
  void OnLegDone(Leg* leg, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  // The status for a session failure on `replica`, naming it.
  grpc::Status DescribeFailure(const WorkReplica& replica,
                               const grpc::Status& status) const;

  // Constant after construction (keys_ after Start).
  WorkReplicas* const replicas_;
  Counters* const counters_;
  const grpc::CallbackServerContext* const caller_;
  Receiver* const receiver_;
  const google::protobuf::RepeatedField<uint64_t>* keys_ = nullptr;

  absl::Mutex mu_;
  // Every leg started, freed only once every session is done (their contexts
  // and listeners must outlive their sessions), by the Release that ends the
  // dispatch.
  std::vector<std::unique_ptr<Leg>> legs_ ABSL_GUARDED_BY(mu_);
  // For each unit, the index in legs_ of the leg that must answer it, or
  // kAnswered.
  std::vector<int32_t> leg_of_ ABSL_GUARDED_BY(mu_);
  // Names of the replicas whose session failed in this call.
  std::vector<std::string> failed_replicas_ ABSL_GUARDED_BY(mu_);
  // Legs not yet done, plus one for each thread inside Start, Cancel or
  // OnLegDone that may still touch the legs. OnDispatchDone when it hits 0.
  int holds_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // OnDispatchDone has been called (or is being called).
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  // Why the last replica that failed in this call failed.
  std::string failure_detail_ ABSL_GUARDED_BY(mu_);
  // The first failure; OK while none.
  grpc::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_DISPATCH_H_
