#include "main_service/dispatch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "main_service/rendezvous.h"

namespace pieces {
namespace {

constexpr int32_t kAnswered = -1;

}  // namespace

class Dispatch::Leg final : public WorkSession::Listener {
 public:
  Leg(Dispatch* dispatch, int32_t index,
      std::shared_ptr<const WorkReplica> replica)
      : dispatch_(dispatch),
        index_(index),
        replica_(std::move(replica)),
        context_(grpc::ClientContext::FromCallbackServerContext(
            *dispatch->caller_)) {}

  void OnMessage(v1::ResultMsg* message) override {
    dispatch_->OnLegMessage(this, message);
  }
  void OnSessionDone(const grpc::Status& status) override {
    dispatch_->OnLegDone(this, status);
  }

  Dispatch* const dispatch_;
  const int32_t index_;  // In Dispatch::legs_.
  const std::shared_ptr<const WorkReplica> replica_;
  const std::unique_ptr<grpc::ClientContext> context_;
  // Filled by RouteLocked, moved into the session by StartAndRelease.
  std::vector<WorkSession::Unit> units_;
  size_t sent_ = 0;  // units_.size() at the start.
  // Guarded by the dispatch's mu_.
  size_t answered_ = 0;
  bool exited_ = false;
  // Used only by this leg's session thread (OnMessage): the results accepted
  // from the current message, handed to the receiver outside mu_.
  absl::InlinedVector<v1::Result*, 8> accepted_;
};

Dispatch::Dispatch(WorkReplicas* replicas, Counters* counters,
                   const grpc::CallbackServerContext* caller,
                   Receiver* receiver)
    : replicas_(replicas),
      counters_(counters),
      caller_(caller),
      receiver_(receiver) {}

Dispatch::~Dispatch() = default;

void Dispatch::Start(const google::protobuf::RepeatedField<uint64_t>* keys) {
  keys_ = keys;
  LegList legs;
  {
    absl::MutexLock lock(&mu_);
    leg_of_.assign(static_cast<size_t>(keys->size()), kAnswered);
    ++holds_;  // This thread's, dropped by StartAndRelease.
    RouteLocked(/*units=*/nullptr, &legs);
  }
  StartAndRelease(legs);
}

bool Dispatch::RouteLocked(const std::vector<uint32_t>* units, LegList* legs) {
  std::shared_ptr<const ReplicaView> view = replicas_->View();
  // Candidates: not failed in this call, and up; if every one of those is
  // down, try the down ones too (a replica that just came back is used at
  // once instead of after the next check).
  absl::InlinedVector<size_t, 8> candidates;
  for (int pass = 0; pass < 2 && candidates.empty(); ++pass) {
    for (size_t i = 0; i < view->replicas.size(); ++i) {
      const std::string& name = view->replicas[i]->name;
      bool failed = false;
      for (const std::string& f : failed_replicas_) failed |= (f == name);
      if (!failed && (pass == 1 || !view->down[i])) candidates.push_back(i);
    }
  }
  if (candidates.empty()) {
    // Perhaps replicas have come since the last resolution: look now, for
    // the next call.
    replicas_->RequestRefresh();
    std::string why;
    if (!failed_replicas_.empty()) {
      why = failure_detail_;
    } else if (!view->resolve_error.empty()) {
      why = view->resolve_error;
    } else {
      why = "no replica resolved";
    }
    if (failure_.ok()) {
      failure_ =
          grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       absl::StrCat("work_service at ", replicas_->targets(),
                                    " is unavailable: ", why));
    }
    return false;
  }
  absl::InlinedVector<uint64_t, 8> hashes;
  for (size_t i : candidates) hashes.push_back(view->replicas[i]->hash);
  // One new leg per candidate that owns at least one unit.
  absl::InlinedVector<Leg*, 8> leg_of_candidate(candidates.size(), nullptr);
  const size_t count = units != nullptr ? units->size() : leg_of_.size();
  for (size_t u = 0; u < count; ++u) {
    const uint32_t unit =
        units != nullptr ? (*units)[u] : static_cast<uint32_t>(u);
    const uint64_t key = keys_->Get(static_cast<int>(unit));
    const size_t owner =
        candidates.size() == 1 ? 0 : RendezvousOwner(key, hashes);
    Leg*& leg = leg_of_candidate[owner];
    if (leg == nullptr) {
      legs_.push_back(std::make_unique<Leg>(this,
                                            static_cast<int32_t>(legs_.size()),
                                            view->replicas[candidates[owner]]));
      leg = legs_.back().get();
      legs->push_back(leg);
      ++holds_;  // Until the leg's session is done.
    }
    leg->units_.push_back({unit, key});
    leg_of_[unit] = leg->index_;
  }
  for (Leg* leg : *legs) leg->sent_ = leg->units_.size();
  return true;
}

void Dispatch::StartAndRelease(const LegList& legs) {
  for (Leg* leg : legs) {
    // Not under mu_: gRPC may run the session's reactions inline. Each leg
    // holds the Dispatch until its session is done, so `leg` stays valid.
    WorkSession::Start(leg->replica_->stub.get(), leg->context_.get(),
                       std::move(leg->units_), leg);
  }
  std::vector<grpc::ClientContext*> cancel;
  {
    absl::MutexLock lock(&mu_);
    // A Cancel that ran meanwhile did not see these sessions started; a
    // context cancelled before its call starts cancels the call at start, so
    // cancelling again here is harmless and closes the gap.
    if (cancelled_ || !failure_.ok()) {
      for (Leg* leg : legs) cancel.push_back(leg->context_.get());
    }
  }
  for (grpc::ClientContext* context : cancel) context->TryCancel();
  Release();
}

std::vector<grpc::ClientContext*> Dispatch::FailLocked(grpc::Status status) {
  std::vector<grpc::ClientContext*> cancel;
  if (!failure_.ok()) return cancel;  // The first failure wins.
  failure_ = std::move(status);
  for (const std::unique_ptr<Leg>& leg : legs_) {
    cancel.push_back(leg->context_.get());
  }
  return cancel;
}

void Dispatch::Release() {
  grpc::Status status;
  std::vector<std::unique_ptr<Leg>> legs;
  {
    absl::MutexLock lock(&mu_);
    if (--holds_ > 0) return;
    done_ = true;
    status = failure_;
    legs = std::move(legs_);
  }
  // Every session is over. Their calls are children of the caller's (their
  // contexts come from FromCallbackServerContext), and gRPC cancels the
  // children still alive when the caller's call completes: freeing the
  // contexts before the receiver finishes that call saves each finished
  // session a cancellation through the transport.
  legs.clear();
  receiver_->OnDispatchDone(status);  // `this` may be gone after it.
}

void Dispatch::Cancel() {
  std::vector<grpc::ClientContext*> cancel;
  {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    cancelled_ = true;
    ++holds_;
    for (const std::unique_ptr<Leg>& leg : legs_) {
      cancel.push_back(leg->context_.get());
    }
  }
  // With no lock held: gRPC may run reactions inline from TryCancel.
  for (grpc::ClientContext* context : cancel) context->TryCancel();
  Release();
}

void Dispatch::OnLegMessage(Leg* leg, v1::ResultMsg* message) {
  v1::Result* single = nullptr;
  google::protobuf::RepeatedPtrField<v1::Result>* batch = nullptr;
  switch (message->msg_case()) {
    case v1::ResultMsg::kResult:
      single = message->mutable_result();
      break;
    case v1::ResultMsg::kBatch:
      batch = message->mutable_batch()->mutable_results();
      break;
    case v1::ResultMsg::kExited: {
      absl::MutexLock lock(&mu_);
      leg->exited_ = true;
      return;
    }
    case v1::ResultMsg::kDraining:  // Per-call sessions end by themselves.
    case v1::ResultMsg::MSG_NOT_SET:
      return;
  }
  std::vector<grpc::ClientContext*> cancel;
  {
    absl::MutexLock lock(&mu_);
    auto accept = [&](v1::Result& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      const uint64_t id = result.id();
      if (id >= leg_of_.size() || leg_of_[id] != leg->index_) {
        std::vector<grpc::ClientContext*> more = FailLocked(grpc::Status(
            grpc::StatusCode::INTERNAL,
            absl::StrCat("work_service at ", leg->replica_->name,
                         " answered an unknown or repeated id ", id)));
        cancel.insert(cancel.end(), more.begin(), more.end());
        return;
      }
      leg_of_[id] = kAnswered;
      ++leg->answered_;
      leg->accepted_.push_back(&result);
    };
    if (single != nullptr) accept(*single);
    if (batch != nullptr) {
      for (v1::Result& result : *batch) accept(result);
    }
  }
  // Outside mu_: the receiver may take its own locks and start writes.
  for (v1::Result* result : leg->accepted_) receiver_->OnResult(result);
  leg->accepted_.clear();
  for (grpc::ClientContext* context : cancel) context->TryCancel();
}

grpc::Status Dispatch::DescribeFailure(const WorkReplica& replica,
                                       const grpc::Status& status) const {
  const std::string where =
      replica.name == replica.target
          ? absl::StrCat("work_service at ", replica.name)
          : absl::StrCat("work_service at ", replica.target, " (", replica.name,
                         ")");
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return grpc::Status(
          status.error_code(),
          absl::StrCat(where, " is unavailable: ", status.error_message()));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return grpc::Status(status.error_code(),
                          absl::StrCat("the deadline passed before ", where,
                                       " answered every key"));
    default:
      return grpc::Status(status.error_code(),
                          absl::StrCat(where, ": ", status.error_message()));
  }
}

void Dispatch::OnLegDone(Leg* leg, const grpc::Status& status) {
  // The leg's hold keeps the Dispatch alive through this call; it is
  // dropped by StartAndRelease (which also starts the re-sent units) or by
  // Release at the end.
  LegList resend_legs;
  std::vector<grpc::ClientContext*> cancel;
  {
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      if (!leg->exited_ || leg->answered_ != leg->sent_) {
        cancel = FailLocked(grpc::Status(
            grpc::StatusCode::INTERNAL,
            absl::StrCat("work_service at ", leg->replica_->name,
                         " ended the session after ", leg->answered_, " of ",
                         leg->sent_, " results",
                         leg->exited_ ? "" : " and without Exited")));
      }
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
               !cancelled_ && failure_.ok()) {
      // The replica is gone or unreachable: its unanswered units go to the
      // replicas that own them now.
      replicas_->ReportUnavailable(leg->replica_->name);
      failed_replicas_.push_back(leg->replica_->name);
      failure_detail_ = DescribeFailure(*leg->replica_, status).error_message();
      std::vector<uint32_t> unanswered;
      for (size_t id = 0; id < leg_of_.size(); ++id) {
        if (leg_of_[id] == leg->index_) unanswered.push_back(id);
      }
      if (!unanswered.empty()) {
        if (RouteLocked(&unanswered, &resend_legs)) {
          counters_->units_resent.fetch_add(unanswered.size(),
                                            std::memory_order_relaxed);
        } else {
          // RouteLocked set failure_; nothing else is running or all others
          // are finishing: cancel them.
          for (const std::unique_ptr<Leg>& other : legs_) {
            cancel.push_back(other->context_.get());
          }
        }
      }
    } else if (failure_.ok()) {
      cancel = FailLocked(cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                                    "the call was cancelled")
                                     : DescribeFailure(*leg->replica_, status));
    }
  }
  for (grpc::ClientContext* context : cancel) context->TryCancel();
  if (!resend_legs.empty()) {
    // Starts them with this leg's hold taken over, and drops one hold.
    StartAndRelease(resend_legs);
  } else {
    Release();
  }
}

}  // namespace pieces
