#include "main_service/call.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "main_service/router.h"

namespace pieces {

Call::Call(WorkReplicas* replicas, Counters* counters, KeyBudget* budget)
    : replicas_(replicas), counters_(counters), budget_(budget) {}

Call::~Call() { budget_->Give(admitted_); }

grpc::Status Call::Admit(size_t n) {
  if (!budget_->TryTake(n)) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("main_service holds ", budget_->held(),
                     " keys of calls in progress; with this call's ", n,
                     " it would pass its bound of ", budget_->capacity(),
                     " (--max_keys_in_progress); try again later"));
  }
  admitted_ = n;
  return grpc::Status::OK;
}

void Call::Start(const google::protobuf::RepeatedField<uint64_t>& keys) {
  const size_t n = static_cast<size_t>(keys.size());
  counters_->keys.fetch_add(n, std::memory_order_relaxed);
  Batches batches;
  grpc::Status failure;
  {
    absl::MutexLock lock(&mu_);
    size_ = n;
    refs_ += n + 1;  // The units, and this thread.
    view_ = replicas_->View();
    const auto unit_at = [&keys](size_t i) {
      return ReplicaLink::Unit{static_cast<uint32_t>(i),
                               keys.Get(static_cast<int>(i))};
    };
    if (!RouteLocked(n, unit_at, &batches)) {
      failure = NoReplicaLocked();
      EndLocked();
    }
  }
  if (!failure.ok()) {
    End(failure);
    Unref(n + 1);
    return;
  }
  Send(batches);
  Unref(1);
}

bool Call::RouteLocked(size_t n,
                       absl::FunctionRef<ReplicaLink::Unit(size_t)> unit_at,
                       Batches* out) {
  Router router(*view_, failed_replicas_);
  if (router.empty()) return false;
  // Two passes, so that each batch is allocated at its exact size: the
  // batches are kept until their units are sent, which for a caller who
  // does not read is most of the call's life.
  absl::InlinedVector<size_t, 4> replica_of_batch;
  absl::InlinedVector<size_t, 4> batch_size;
  std::vector<uint32_t> batch_of(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t replica = router.Owner(unit_at(i).key);
    size_t b = 0;
    while (b < replica_of_batch.size() && replica_of_batch[b] != replica) ++b;
    if (b == replica_of_batch.size()) {
      replica_of_batch.push_back(replica);
      batch_size.push_back(0);
      out->push_back({view_->replicas[replica]->link, {}});
    }
    ++batch_size[b];
    batch_of[i] = static_cast<uint32_t>(b);
  }
  for (size_t b = 0; b < out->size(); ++b) {
    (*out)[b].units.reserve(batch_size[b]);
  }
  for (size_t i = 0; i < n; ++i)
    (*out)[batch_of[i]].units.push_back(unit_at(i));
  for (const Batch& batch : *out) {
    bool known = false;
    for (const auto& link : links_) known |= (link == batch.link);
    if (!known) links_.push_back(batch.link);
  }
  return true;
}

void Call::Send(Batches& batches) {
  for (Batch& batch : batches) batch.link->Send(this, std::move(batch.units));
  bool ended;
  {
    absl::MutexLock lock(&mu_);
    ended = ended_;
  }
  // An Abort that ran meanwhile may have missed these units.
  if (ended) CancelUnits();
}

bool Call::EndLocked() {
  if (ended_) return false;
  ended_ = true;
  return true;
}

void Call::CancelUnits() {
  absl::InlinedVector<std::shared_ptr<ReplicaLink>, 4> links;
  {
    absl::MutexLock lock(&mu_);
    links = links_;
    ++refs_;
  }
  size_t dropped = 0;
  for (const auto& link : links) dropped += link->Cancel(this);
  Unref(dropped + 1);
}

void Call::Abort(grpc::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!EndLocked()) return;
    ++refs_;
  }
  End(status);
  CancelUnits();
  Unref(1);
}

void Call::ReactorDone() { Unref(1); }

void Call::OnResult(ReplicaLink* link, v1::Result* result) {
  bool end = false;
  bool flush = false;
  {
    absl::MutexLock lock(&mu_);
    if (!ended_) {
      Take(link, result);
      flush = true;
      if (++answered_ == size_) end = EndLocked();
    }
  }
  if (end) {
    End(grpc::Status::OK);
  } else if (flush) {
    Flush();
  } else if (HoldsResults()) {
    link->Release(this, 1);  // Dropped: nobody waits for it.
  }
  Unref(1);
}

void Call::OnLost(std::vector<ReplicaLink::Unit> units,
                  const std::string& replica, const grpc::Status& status) {
  Batches batches;
  grpc::Status failure;
  bool report = false;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) {
      // Nobody waits for them.
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // The replica is gone, unreachable or draining: its units go to the
      // replicas that own them now.
      report = true;
      failed_replicas_.push_back(replica);
      failure_detail_ = Describe(replica, status).error_message();
      view_ = replicas_->View();
      if (RouteLocked(
              units.size(), [&units](size_t i) { return units[i]; },
              &batches)) {
        counters_->units_resent.fetch_add(units.size(),
                                          std::memory_order_relaxed);
        ++refs_;  // This thread, while it sends.
      } else {
        failure = NoReplicaLocked();
      }
    } else {
      failure = Describe(replica, status);
    }
    if (!failure.ok() && !EndLocked()) failure = grpc::Status::OK;
    if (!failure.ok()) ++refs_;  // This thread, while it ends the call.
  }
  if (report) replicas_->ReportUnavailable(replica, status.error_message());
  if (!batches.empty()) {
    Send(batches);
    Unref(1);
    return;  // The re-sent units keep their references.
  }
  if (!failure.ok()) {
    End(failure);
    CancelUnits();
    Unref(1);
  }
  Unref(units.size());
}

grpc::Status Call::Describe(const std::string& replica,
                            const grpc::Status& status) const {
  const std::string where = absl::StrCat("work_service at ", replica);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return grpc::Status(
        status.error_code(),
        absl::StrCat(where, " is unavailable: ", status.error_message()));
  }
  return grpc::Status(status.error_code(),
                      absl::StrCat(where, ": ", status.error_message()));
}

grpc::Status Call::NoReplicaLocked() const {
  // Perhaps replicas have come since the last resolution: look now, for the
  // next call.
  replicas_->RequestRefresh();
  std::string why;
  if (!failed_replicas_.empty()) {
    why = failure_detail_;
  } else if (!view_->resolve_error.empty()) {
    why = view_->resolve_error;
  } else {
    why = "no replica resolved";
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("work_service at ", replicas_->targets(),
                                   " is unavailable: ", why));
}

void Call::Unref(size_t n) {
  if (n == 0) return;
  bool last;
  {
    absl::MutexLock lock(&mu_);
    refs_ -= n;
    last = refs_ == 0;
  }
  if (last) delete this;
}

}  // namespace pieces
