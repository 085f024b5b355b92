#include "main_service/replica_link.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/completion_tag.h"

namespace pieces {
namespace {

// The most units in one WorkBatch.
constexpr size_t kMaxBatch = 512;

}  // namespace

// One Process session: an async call whose events come on the link's queue.
// Its state is guarded by the link's mu_, except `in` (only the read path
// touches it) and `out` (only while a write is in flight, or under mu_ while
// none is). A session holds the link alive. It is deleted once its Finish
// has come and no operation decided for it is left (`operations`).
class ReplicaLink::Session final {
 public:
  explicit Session(std::shared_ptr<ReplicaLink> link) : link(std::move(link)) {}

  const std::shared_ptr<ReplicaLink> link;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<v1::WorkMsg, v1::ResultMsg>>
      stream;
  v1::WorkMsg out;
  v1::ResultMsg in;
  grpc::Status status;  // The session's, once Finish has come.
  MemberTag<Session> read_done{this, &Session::ReadCame};
  MemberTag<Session> write_done{this, &Session::WriteCame};
  MemberTag<Session> finished{this, &Session::FinishCame};
  // Guarded by link->mu_.
  absl::flat_hash_map<uint64_t, Slot> slots;  // Units in flight, by id.
  uint64_t next_id = 0;
  std::vector<uint64_t> cancels;  // Ids to cancel with the next write.
  bool writing = false;           // A write or the half-close is under way.
  bool draining = false;          // The replica sent Draining.
  bool half_closed = false;       // Exit (the half-close) is decided.
  bool read_ended = false;        // The stream is over for reading.
  bool done = false;              // Finish has come.
  bool cancelled = false;         // main_service cancelled it.
  // Operations decided under mu_ and not over: started and their event not
  // yet come, or still to start.
  int operations = 0;
  // Why the session is broken, when main_service broke it (an unknown id).
  grpc::Status error;

 private:
  void ReadCame(bool ok) {
    if (ok) {
      link->OnMessage(this);
    } else {
      link->OnReadEnded(this);
    }
  }
  void WriteCame(bool ok) { link->OnWriteDone(this, ok); }
  void FinishCame(bool /*ok*/) { link->OnSessionDone(this); }
};

struct ReplicaLink::Ops {
  // Sessions to start, their first batch in `out`.
  std::vector<Session*> start;
  std::vector<Session*> write;
  std::vector<Session*> half_close;
  std::vector<Session*> cancel;
  // Results to hand to their owners, with the ids set to positions.
  std::vector<std::pair<Owner*, v1::Result*>> results;
  struct Lost {
    Owner* owner;
    std::vector<Unit> units;
    grpc::Status status;
  };
  std::vector<Lost> lost;
};

ReplicaLink::ReplicaLink(std::string name,
                         std::shared_ptr<grpc::Channel> channel,
                         const Options& options)
    : name_(std::move(name)),
      channel_(std::move(channel)),
      stub_(v1::WorkService::NewStub(channel_)),
      options_(options) {}

ReplicaLink::~ReplicaLink() = default;

size_t ReplicaLink::in_flight() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const Session* session : sessions_) n += session->slots.size();
  return n;
}

size_t ReplicaLink::sessions() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

void ReplicaLink::Send(Owner* owner, std::vector<Unit> units) {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    if (closing_ || draining_) {
      ops.lost.push_back(
          {owner, std::move(units),
           grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        closing_ ? "main_service is stopping"
                                 : "it is draining (stopping)")});
    } else {
      std::unique_ptr<Queue>& queue = queues_[owner];
      if (queue == nullptr) {
        queue = std::make_unique<Queue>();
        queue->owner = owner;
        queue->holds = owner->HoldsResults();
      }
      waiting_ += units.size();
      if (queue->waiting() == 0) {
        queue->units = std::move(units);
        queue->next = 0;
      } else {
        queue->units.insert(queue->units.end(), units.begin(), units.end());
      }
      MakeReadyLocked(queue.get());
      PlanWritesSoonLocked(ops);
    }
  }
  Execute(ops);
}

void ReplicaLink::Release(Owner* owner, size_t n) {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(owner);
    if (it == queues_.end()) return;
    Queue* queue = it->second.get();
    if (queue->cancelled) return;
    queue->held -= std::min(n, queue->held);
    MakeReadyLocked(queue);
    if (queue->ready) PlanWritesSoonLocked(ops);
    ForgetIfIdleLocked(queue);
  }
  Execute(ops);
}

size_t ReplicaLink::Cancel(Owner* owner) {
  Ops ops;
  size_t dropped = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(owner);
    if (it == queues_.end()) return 0;
    Queue* queue = it->second.get();
    // The owner gives back no result from now on.
    queue->cancelled = true;
    queue->held = 0;
    dropped = queue->waiting();
    waiting_ -= dropped;
    std::vector<Unit>().swap(queue->units);  // Frees them.
    queue->next = 0;
    if (queue->ready) {
      ready_.erase(std::find(ready_.begin(), ready_.end(), queue));
      queue->ready = false;
    }
    if (queue->in_flight > 0) {
      for (Session* session : sessions_) {
        for (const auto& [id, slot] : session->slots) {
          if (slot.queue == queue) session->cancels.push_back(id);
        }
      }
      PlanWritesSoonLocked(ops);
    }
    ForgetIfIdleLocked(queue);
  }
  Execute(ops);
  return dropped;
}

ReplicaLink::Closed ReplicaLink::Close(absl::Time deadline) {
  StartClose();
  return AwaitClosed(deadline);
}

void ReplicaLink::StartClose() {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    TakeWaitingLocked(ops);
    for (Ops::Lost& lost : ops.lost) {
      lost.status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "main_service is stopping");
    }
    PlanWritesLocked(ops);  // Half-closes the idle sessions.
  }
  Execute(ops);
}

ReplicaLink::Closed ReplicaLink::AwaitClosed(absl::Time deadline) {
  Ops cancel;
  mu_.Lock();
  auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return sessions_.empty() && dying_ == 0;
  };
  if (mu_.AwaitWithDeadline(absl::Condition(&all_done), deadline)) {
    const Closed closed = {exited_, 0};
    mu_.Unlock();
    return closed;
  }
  // Past the deadline: cancel what is left (its units come back as lost).
  for (Session* session : sessions_) {
    if (session->read_ended) continue;  // Its Finish is on its way.
    ++session->operations;
    session->cancelled = true;
    cancel.cancel.push_back(session);
  }
  mu_.Unlock();
  Execute(cancel);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&all_done));
  return {exited_, cancel.cancel.size()};
}

void ReplicaLink::MakeReadyLocked(Queue* queue) {
  if (!queue->ready && queue->waiting() > 0 &&
      queue->used() < options_.per_owner) {
    queue->ready = true;
    ready_.push_back(queue);
  }
}

void ReplicaLink::ForgetIfIdleLocked(Queue* queue) {
  if (queue->used() == 0 && queue->waiting() == 0 && !queue->ready) {
    queues_.erase(queue->owner);
  }
}

void ReplicaLink::TakeWaitingLocked(Ops& ops) {
  for (Queue* queue : ready_) queue->ready = false;
  ready_.clear();
  std::vector<Queue*> emptied;
  for (auto& [owner, queue] : queues_) {
    if (queue->waiting() == 0) continue;
    ops.lost.push_back({owner,
                        std::vector<Unit>(queue->units.begin() + queue->next,
                                          queue->units.end()),
                        grpc::Status()});
    std::vector<Unit>().swap(queue->units);  // Frees them.
    queue->next = 0;
    emptied.push_back(queue.get());
  }
  waiting_ = 0;
  for (Queue* queue : emptied) ForgetIfIdleLocked(queue);
}

bool ReplicaLink::FillLocked(Session* session) {
  if (!session->cancels.empty()) {
    session->out.Clear();
    auto* ids = session->out.mutable_cancel()->mutable_ids();
    ids->Add(session->cancels.begin(), session->cancels.end());
    session->cancels.clear();
    return true;
  }
  if (session->draining || closing_ || waiting_ == 0) return false;
  size_t room = std::min(kMaxBatch, options_.window - session->slots.size());
  if (room == 0 || ready_.empty()) return false;
  // out is not cleared as a whole: that would free its Work objects, which
  // RepeatedPtrField::Clear keeps for the next batch.
  auto* works = session->out.mutable_batch()->mutable_works();
  works->Clear();
  // Each call in turn takes what it may, up to its share in flight.
  while (room > 0 && !ready_.empty()) {
    Queue* queue = ready_.front();
    ready_.pop_front();
    queue->ready = false;
    const size_t n =
        std::min({room, options_.per_owner - queue->used(), queue->waiting()});
    for (size_t i = 0; i < n; ++i) {
      const Unit unit = queue->units[queue->next++];
      const uint64_t id = session->next_id++;
      session->slots.emplace(id, Slot{queue, unit});
      v1::Work* work = works->Add();
      work->set_id(id);
      work->set_key(unit.key);
    }
    queue->in_flight += n;
    waiting_ -= n;
    room -= n;
    if (queue->waiting() == 0) {
      std::vector<Unit>().swap(queue->units);  // Frees them.
      queue->next = 0;
    }
    MakeReadyLocked(queue);
  }
  units_sent_.fetch_add(works->size(), std::memory_order_relaxed);
  return !works->empty();
}

void ReplicaLink::PlanWritesSoonLocked(Ops& ops) {
  EventQueue& queue = *options_.queue;
  if (!queue.OnItsThread()) {
    PlanWritesLocked(ops);
  } else if (!held_) {
    held_ = true;
    queue.Hold(shared_from_this());
  }
}

void ReplicaLink::Flush() {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    held_ = false;
    PlanWritesLocked(ops);
  }
  Execute(ops);
}

void ReplicaLink::PlanWritesLocked(Ops& ops) {
  bool can_take = false;  // Some open session could take more units.
  size_t open = 0;        // Sessions that take units.
  for (Session* session : sessions_) {
    if (session->read_ended || session->half_closed) continue;
    if (!session->draining) ++open;
    if (session->writing) {
      if (!session->draining && session->slots.size() < options_.window) {
        can_take = true;  // Takes them when its write completes.
      }
      continue;
    }
    if (FillLocked(session)) {
      session->writing = true;
      ++session->operations;
      ops.write.push_back(session);
      can_take |= session->slots.size() < options_.window;
    } else if ((session->draining || closing_) && session->slots.empty()) {
      // Every unit answered: Exit, and the replica answers Exited.
      session->half_closed = true;
      session->writing = true;
      ++session->operations;
      ops.half_close.push_back(session);
    }
  }
  if (waiting_ > 0 && !can_take && !ready_.empty() && !closing_ &&
      open < options_.sessions) {
    auto* session = new Session(shared_from_this());
    sessions_.push_back(session);
    FillLocked(session);  // Not empty: units wait and it has room.
    session->writing = true;
    session->operations += 2;  // Its read, and its first write.
    ops.start.push_back(session);
  }
}

void ReplicaLink::Execute(Ops& ops) {
  for (auto& [owner, result] : ops.results) owner->OnResult(this, result);
  for (Ops::Lost& lost : ops.lost) {
    lost.owner->OnLost(std::move(lost.units), name_, lost.status);
  }
  for (Session* session : ops.start) {
    // The initial metadata leaves with the first batch: StartCall does
    // nothing then, and has no event.
    session->context.set_initial_metadata_corked(true);
    session->stream =
        stub_->PrepareAsyncProcess(&session->context, options_.queue->cq());
    session->stream->StartCall(nullptr);
    session->stream->Read(&session->in, &session->read_done);
    session->stream->Write(session->out, &session->write_done);
  }
  for (Session* session : ops.write) {
    session->stream->Write(session->out, &session->write_done);
  }
  for (Session* session : ops.half_close) {
    session->stream->WritesDone(&session->write_done);
  }
  for (Session* session : ops.cancel) {
    session->context.TryCancel();
    OperationOver(session);
  }
}

void ReplicaLink::OperationOver(Session* session) {
  {
    absl::MutexLock lock(&mu_);
    if (--session->operations > 0 || !session->done) return;
  }
  // Deleted before Close may return. The link outlives this: WorkReplicas
  // keeps every link until it is destroyed, after Close.
  delete session;
  absl::MutexLock lock(&mu_);
  --dying_;
}

void ReplicaLink::OnMessage(Session* session) {
  v1::ResultMsg& in = session->in;
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    auto accept = [&](v1::Result* result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = session->slots.find(result->id());
      if (it == session->slots.end()) {
        if (session->error.ok()) {
          session->error =
              grpc::Status(grpc::StatusCode::INTERNAL,
                           absl::StrCat("work_service at ", name_,
                                        " answered an unknown or repeated id ",
                                        result->id()));
        }
        return;
      }
      const Slot slot = it->second;
      session->slots.erase(it);
      units_answered_.fetch_add(1, std::memory_order_relaxed);
      result->set_id(slot.unit.position);
      ops.results.emplace_back(slot.queue->owner, result);
      --slot.queue->in_flight;
      if (slot.queue->holds && !slot.queue->cancelled) ++slot.queue->held;
      MakeReadyLocked(slot.queue);
      ForgetIfIdleLocked(slot.queue);
    };
    switch (in.msg_case()) {
      case v1::ResultMsg::kResult:
        accept(in.mutable_result());
        break;
      case v1::ResultMsg::kBatch:
        for (v1::Result& result : *in.mutable_batch()->mutable_results()) {
          accept(&result);
        }
        break;
      case v1::ResultMsg::kDraining:
        // The replica is stopping: what waits goes elsewhere; what is in
        // flight is still answered.
        draining_ = true;
        for (Session* s : sessions_) s->draining = true;
        TakeWaitingLocked(ops);
        for (Ops::Lost& lost : ops.lost) {
          lost.status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "it is draining (stopping)");
        }
        break;
      case v1::ResultMsg::kExited:
      case v1::ResultMsg::MSG_NOT_SET:
        break;
    }
    if (!session->error.ok()) {
      // Broken by the replica: cancel it; its units come back as lost.
      if (!session->read_ended) {
        ++session->operations;
        session->cancelled = true;
        ops.cancel.push_back(session);
      }
    } else {
      PlanWritesSoonLocked(ops);  // Room was made; the owners may send more.
    }
  }
  // The owners take the results out of `in` before the next read reuses it.
  // The read goes on: the session is not done before its read has ended.
  Execute(ops);
  session->stream->Read(&in, &session->read_done);
}

void ReplicaLink::OnWriteDone(Session* session, bool ok) {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    session->writing = false;
    // A failed write means the stream is over; the read path sees it.
    if (ok) PlanWritesSoonLocked(ops);
  }
  Execute(ops);
  OperationOver(session);
}

void ReplicaLink::OnReadEnded(Session* session) {
  {
    absl::MutexLock lock(&mu_);
    session->read_ended = true;
  }
  // The read operation goes on as the Finish, which brings the status.
  session->stream->Finish(&session->status, &session->finished);
}

void ReplicaLink::OnSessionDone(Session* session) {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    sessions_.erase(std::find(sessions_.begin(), sessions_.end(), session));
    session->done = true;
    ++dying_;  // Until it is deleted (OperationOver).
    grpc::Status why = session->error.ok() ? session->status : session->error;
    if (why.error_code() == grpc::StatusCode::CANCELLED &&
        !session->cancelled) {
      // main_service did not cancel it: the replica did, as a server does
      // with the calls it still has when it stops.
      why = grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("it cancelled the session (", why.error_message(), ")"));
    }
    if (why.ok() && session->half_closed) ++exited_;
    if (why.ok() && !session->slots.empty()) {
      why = grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("work_service at ", name_, " ended a session with ",
                       session->slots.size(), " units unanswered"));
    }
    // The units it had not answered go back to their owners.
    absl::flat_hash_map<Queue*, std::vector<Unit>> lost;
    for (const auto& [id, slot] : session->slots) {
      lost[slot.queue].push_back(slot.unit);
    }
    for (auto& [queue, units] : lost) {
      queue->in_flight -= units.size();
      ops.lost.push_back({queue->owner, std::move(units), why});
      MakeReadyLocked(queue);
      ForgetIfIdleLocked(queue);  // May free it: not used after.
    }
    if (!why.ok()) {
      // A session that failed: unless another is open, the units waiting
      // would only fail the same way; their owners decide.
      bool other_open = false;
      for (Session* s : sessions_) other_open |= !s->read_ended;
      if (!other_open) {
        const size_t first = ops.lost.size();
        TakeWaitingLocked(ops);
        for (size_t i = first; i < ops.lost.size(); ++i) {
          ops.lost[i].status = why;
        }
      }
    }
    // A replica that drained is done with once its sessions are: the next
    // session there is to a new process.
    if (sessions_.empty()) draining_ = false;
    PlanWritesSoonLocked(ops);  // Units may wait for a session.
  }
  Execute(ops);
  OperationOver(session);  // The Finish.
}

}  // namespace pieces
