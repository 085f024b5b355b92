#include "work_service/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pieces {

bool SessionRegistry::Add(Session* session) {
  absl::MutexLock lock(&mu_);
  sessions_.insert(session);
  return draining_;
}

void SessionRegistry::Remove(Session* session) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(session);
}

void SessionRegistry::Drain() {
  // Each session is held under the lock, so that it cannot be freed, and
  // written to after the lock is released: no gRPC operation is started
  // under it (see session.h).
  std::vector<Session*> open;
  {
    absl::MutexLock lock(&mu_);
    if (draining_) return;
    draining_ = true;
    open.reserve(sessions_.size());
    for (Session* session : sessions_) {
      session->HoldForDrain();
      open.push_back(session);
    }
  }
  for (Session* session : open) session->WriteDraining();
}

void DeferredWrites::WriteAll() {
  // A session's write may come back and defer the next one before this
  // returns: it goes in a list of its own.
  std::vector<Session*> sessions;
  sessions.swap(sessions_);
  for (Session* session : sessions) session->WriteDeferred();
}

void SessionRegistry::AwaitNone() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<Session*>* sessions) {
        return sessions->empty();
      },
      &sessions_));
}

Session::Session(const SessionEnv& env, std::unique_ptr<Call> call)
    : SessionStream(std::move(call)),
      env_(env),
      record_(env.unit_times, context().peer()) {
  // sessions_active was counted by WorkServiceImpl when the call came.
  env_.stats->sessions_total.fetch_add(1, std::memory_order_relaxed);
  // From here a Drain may reach the session and start its operations (the
  // call has arrived, so they may start at once; their reactions wait for
  // this constructor, which runs on the completion-queue thread).
  const bool draining = env_.registry->Add(this);
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    if (draining) draining_wanted_ = true;  // Else a Drain may have set it.
    Plan(ops);  // The first read, and the Draining if wanted.
  }
  Execute(std::move(ops));
}

void Session::OnReadDone(bool ok) {
  Ops ops;
  ops.may_defer_write = true;
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {
      // The client half-closed (which means Exit) or the call is over.
      read_closed_ = true;
      if (phase_ == Phase::kReading) phase_ = Phase::kExiting;
    } else if (phase_ < Phase::kFinishing) {
      HandleMessage(ops);
    }
    Plan(ops);
  }
  Execute(std::move(ops));
}

void Session::HandleMessage(Ops& ops) {
  switch (in_.msg_case()) {
    case v1::WorkMsg::kWork:
      AcceptWork(in_.work(), ops);
      return;
    case v1::WorkMsg::kBatch:
      if (in_.batch().works().empty()) {
        FinishWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "a WorkBatch must carry at least one Work"));
        return;
      }
      batched_ = true;
      for (const v1::Work& work : in_.batch().works()) {
        if (!AcceptWork(work, ops)) return;
      }
      return;
    case v1::WorkMsg::kExit:
      if (phase_ == Phase::kExiting) {
        FinishWith(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "a second Exit in one session"));
        return;
      }
      phase_ = Phase::kExiting;
      return;
    case v1::WorkMsg::kCancel:
      AcceptCancel(in_.cancel());
      return;
    case v1::WorkMsg::MSG_NOT_SET:
      FinishWith(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "a WorkMsg must set exactly one of 'work', 'batch', 'exit' or "
          "'cancel'; this one set none (or only a field this service does not "
          "know)"));
      return;
  }
}

bool Session::AcceptWork(const v1::Work& work, Ops& ops) {
  if (phase_ == Phase::kExiting) {
    FinishWith(grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("Work id=", work.id(),
                     " arrived after Exit; a session takes no work after its "
                     "Exit")));
    return false;
  }
  if (!ids_.Insert(work.id())) {
    FinishWith(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("Work id=", work.id(),
                     " was already used in this session; ids must be unique "
                     "within a session")));
    return false;
  }
  ++unanswered_;
  env_.stats->work_received.fetch_add(1, std::memory_order_relaxed);
  env_.stats->in_flight.fetch_add(1, std::memory_order_relaxed);
  // Decided now, in arrival order and without blocking: a cached key is
  // answered here; the first unit for an absent key claims it and goes to
  // the pool; a unit whose key is in progress parks until the unit computing
  // it completes it, on that unit's pool thread.
  // The continuation is made only for a unit that parks. Only the units
  // that claim or park are tracked (for Cancel): a hit costs no more.
  const Unit unit{work.id(), work.key()};
  if (env_.piece != nullptr) {
    // One of the article's stages runs it and answers through Deliver.
    ++holds_;
    ops.units.push_back(unit);
    return true;
  }
  const KeyedCache::Lookup lookup = env_.cache->LookupOrClaim(
      unit.key, [this, unit]() -> KeyedCache::Continuation {
        return [this, unit](KeyedCache::Outcome outcome) {
          Deliver(unit, std::move(outcome));
        };
      });
  switch (lookup.found) {
    case KeyedCache::Found::kReady:
      record_.HitOnArrival();
      queue_.push_back(
          MakeAnswer(unit, KeyedCache::Outcome{lookup.value, /*computed=*/false,
                                               /*waited=*/false}));
      break;
    case KeyedCache::Found::kClaimed:
      ++holds_;
      units_.emplace(unit.id,
                     Tracked{unit.key, UnitState::kQueued, UnitTimes::Now()});
      ops.units.push_back(unit);
      break;
    case KeyedCache::Found::kParked:
      ++holds_;  // The continuation refers to this session.
      // Under mu_, so before the continuation can look for it.
      units_.emplace(unit.id,
                     Tracked{unit.key, UnitState::kParked, UnitTimes::Now()});
      break;
  }
  return true;
}

void Session::AcceptCancel(const v1::Cancel& cancel) {
  if (cancel.ids().empty()) {
    FinishWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "a Cancel must list at least one Work id"));
    return;
  }
  for (const uint64_t id : cancel.ids()) {
    auto it = units_.find(id);
    if (it == units_.end()) {
      // Answered already (its Result may be on its way): nothing to give up.
      if (ids_.Contains(id)) continue;
      FinishWith(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("Cancel lists id=", id,
                       ", which no Work of this session used; a Cancel may "
                       "list only ids sent earlier in its session")));
      return;
    }
    Tracked& tracked = it->second;
    // A unit computing now finishes and is answered as usual; a cancelled
    // one has its answer already.
    if (tracked.state != UnitState::kQueued &&
        tracked.state != UnitState::kParked) {
      continue;
    }
    // Answered now; its pool task or continuation only cleans up (and the
    // entry stays until then, for it to see).
    tracked.state = UnitState::kCancelled;
    env_.stats->cancelled.fetch_add(1, std::memory_order_relaxed);
    record_.Cancelled(tracked.arrived);
    queue_.push_back(Answer{
        Unit{id, tracked.key},
        KeyedCache::Outcome{absl::CancelledError("cancelled by the client"),
                            /*computed=*/false, /*waited=*/false}});
  }
}

void Session::OnWriteDone(bool ok) {
  Ops ops;
  ops.may_defer_write = true;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    const size_t written = out_.has_result()  ? 1
                           : out_.has_batch() ? out_.batch().results_size()
                                              : 0;
    unanswered_ -= written;
    env_.stats->in_flight.fetch_sub(written, std::memory_order_relaxed);
    if (ok) completed_ += written;
    if (!ok) {
      FinishWith(grpc::Status(grpc::StatusCode::CANCELLED,
                              "the client went away before its results were "
                              "written"));
    } else if (out_.has_exited()) {
      FinishWith(grpc::Status::OK);
    }
    Plan(ops);
  }
  Execute(std::move(ops));
}

void Session::OnCancel() {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    FinishWith(grpc::Status(grpc::StatusCode::CANCELLED,
                            "the client cancelled the session"));
    Plan(ops);
  }
  Execute(std::move(ops));
}

void Session::OnDone() {
  env_.stats->sessions_active.fetch_sub(1, std::memory_order_relaxed);
  // Before kDone: a Drain that still finds the session holds it already.
  env_.registry->Remove(this);
  bool last;
  std::optional<SessionRecord> record;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    phase_ = Phase::kDone;
    last = holds_ == 0;
    record.emplace(record_);
    if (finish_status_.has_value()) status = *finish_status_;
  }
  record->LogEnd(status);  // With no lock held: it writes to stderr.
  if (last) delete this;
}

void Session::HoldForDrain() {
  absl::MutexLock lock(&mu_);
  draining_wanted_ = true;
  ++holds_;
}

void Session::WriteDraining() {
  Ops ops;
  bool last;
  {
    absl::MutexLock lock(&mu_);
    last = LetGo(ops);
  }
  AfterLetGo(this, last, std::move(ops));
}

void Session::WriteDeferred() {
  Ops ops;
  bool last;
  {
    absl::MutexLock lock(&mu_);
    write_deferred_ = false;
    last = LetGo(ops);
  }
  AfterLetGo(this, last, std::move(ops));
}

void Session::DropQueued() {
  unanswered_ -= queue_.size();
  env_.stats->in_flight.fetch_sub(queue_.size(), std::memory_order_relaxed);
  queue_.clear();
}

void Session::FinishWith(grpc::Status status) {
  if (phase_ >= Phase::kFinishing) return;
  phase_ = Phase::kFinishing;
  finish_status_ = std::move(status);
  read_closed_ = true;
  DropQueued();
}

void Session::Plan(Ops& ops) {
  if (phase_ >= Phase::kFinishing) {
    // Finish only once no write is in flight and no operation is about to
    // start: gRPC takes no StartWrite or StartRead after Finish.
    if (phase_ == Phase::kFinishing && !writing_ && starting_ == 0) {
      phase_ = Phase::kFinished;
      ops.finish = *finish_status_;
    }
    return;
  }
  if (!writing_ && ops.may_defer_write && NextWriteSends()) {
    // Waits for the completion-queue thread to find no event ready: the
    // answers to the messages read by then go with it.
    if (!write_deferred_) {
      write_deferred_ = true;
      ++holds_;  // Until WriteDeferred.
      ops.defer_write = true;
    }
  } else if (!writing_ && !write_deferred_ && NextMessage()) {
    writing_ = true;
    if (out_.has_exited() && read_closed_ && starting_ == 0) {
      // The client has half-closed (main_service's sessions do), so no late
      // Work can arrive: the Exited and the OK status go in one operation,
      // which saves the Finish and the OnWriteDone between them. After an
      // Exit message the session keeps reading and finishes apart instead.
      FinishWith(grpc::Status::OK);
      phase_ = Phase::kFinished;
      ops.write_and_finish = true;
      return;
    }
    ops.write = true;
    // More answers wait behind this one: gRPC may hold its bytes back and
    // send them with the next write's. The last queued answer is written
    // without the hint, which sends everything held.
    ops.write_hint = wrote_ && !queue_.empty();
    wrote_ = true;
    ++starting_;
  }
  // Keep reading after Exit too, so that a late Work is noticed; stop while
  // too many units are unanswered (backpressure).
  if (!reading_ && !read_closed_ && unanswered_ < env_.max_in_flight) {
    reading_ = true;
    ops.read = true;
    ++starting_;
  }
}

bool Session::NextWriteSends() const {
  if (queue_.empty()) return false;
  // NextMessage's order: the Draining notice, or stage 2's Exited, would go
  // first.
  if (draining_wanted_ && !draining_sent_ && !exited_sent_) return false;
  if (env_.exited_at_once && phase_ == Phase::kExiting) return false;
  // NextMessage takes one result, or a batch of them; the write is hinted
  // only if results are left behind, and never as the stream's first.
  const size_t taken = batched_ ? kMaxResultsPerBatch : 1;
  return !wrote_ || queue_.size() <= taken;
}

bool Session::NextMessage() {
  if (draining_wanted_ && !draining_sent_ && !exited_sent_) {
    // Goes first: the client should stop sending work as soon as it can.
    draining_sent_ = true;
    out_.mutable_draining();
    return true;
  }
  if (env_.exited_at_once && phase_ == Phase::kExiting) {
    // Stage 2 of the article: nothing waits for the units in progress, so
    // the Exited goes now and results not yet written are lost (so are those
    // that come before the call ends).
    DropQueued();
    if (exited_sent_) return false;
    exited_sent_ = true;
    out_.Clear();
    out_.mutable_exited()->set_completed(completed_);
    return true;
  }
  if (!queue_.empty()) {
    // out_ is not cleared as a whole: that would free its Result objects.
    // RepeatedPtrField::Clear keeps them for the next Add, and the single
    // Result is reused as it is. So a steady session allocates no Result.
    if (batched_) {
      // Everything ready goes out together, up to a bound on the size.
      auto* results = out_.mutable_batch()->mutable_results();
      results->Clear();
      const size_t n = std::min(queue_.size(), kMaxResultsPerBatch);
      for (size_t i = 0; i < n; ++i) {
        FillResult(queue_.front(), results->Add());
        queue_.pop_front();
      }
    } else {
      v1::Result* result = out_.mutable_result();
      result->Clear();
      FillResult(queue_.front(), result);
      queue_.pop_front();
    }
    return true;
  }
  if (phase_ == Phase::kExiting && unanswered_ == 0 && !exited_sent_) {
    // Every unit has been answered and written: Exited goes last.
    exited_sent_ = true;
    out_.Clear();
    out_.mutable_exited()->set_completed(completed_);
    return true;
  }
  return false;
}

void Session::Execute(Ops ops) {
  const bool may_defer_write = ops.may_defer_write;
  while (true) {
    // Only on the completion-queue thread, which owns the list.
    if (ops.defer_write) env_.deferred_writes->Add(this);
    if (!ops.units.empty()) Hand(ops.units);
    int started = 0;
    if (ops.write) {
      grpc::WriteOptions options;
      if (ops.write_hint) options.set_buffer_hint();
      StartWrite(&out_, options);
      ++started;
    }
    if (ops.read) {
      StartRead(&in_);
      ++started;
    }
    // Finish and the final write are planned alone; after them `this` may
    // be gone.
    if (ops.finish.has_value()) Finish(*ops.finish);
    if (ops.write_and_finish) {
      StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
    }
    if (started == 0) return;
    ops = Ops();
    ops.may_defer_write = may_defer_write;
    absl::MutexLock lock(&mu_);
    starting_ -= started;
    Plan(ops);
  }
}

void Session::Hand(const std::vector<Unit>& units) {
  if (env_.piece == nullptr) {
    for (const Unit& unit : units) {
      env_.pool->Submit([this, unit] { RunUnit(unit); });
    }
    return;
  }
  for (const Unit& unit : units) {
    env_.piece->Run(unit.key, [this, unit](KeyedCache::Outcome outcome) {
      Deliver(unit, std::move(outcome));
    });
  }
}

void Session::RunUnit(Unit unit) {
  bool ended;
  bool cancelled = false;
  {
    absl::MutexLock lock(&mu_);
    ended = phase_ >= Phase::kFinishing;
    auto it = units_.find(unit.id);
    if (it != units_.end()) {
      cancelled = it->second.state == UnitState::kCancelled;
      if (!cancelled) it->second.state = UnitState::kComputing;
    }
  }
  // Nobody wants this unit's result (the session ended before it started,
  // or the client cancelled it): unless another unit waits for the key, it
  // is not computed. A cancelled unit was counted when the Cancel came.
  if ((ended || cancelled) && env_.cache->AbandonClaim(unit.key)) {
    if (!cancelled) {
      env_.stats->cancelled.fetch_add(1, std::memory_order_relaxed);
    }
    Deliver(unit, std::nullopt);
    return;
  }
  Deliver(unit, env_.cache->CompleteClaim(unit.key, [this](uint64_t key) {
    return env_.work->Compute(key);
  }));
}

Session::Answer Session::MakeAnswer(Unit unit,
                                    KeyedCache::Outcome outcome) const {
  WorkStats& stats = *env_.stats;
  if (outcome.waited) stats.waited.fetch_add(1, std::memory_order_relaxed);
  if (!outcome.value.ok()) {
    stats.failed.fetch_add(1, std::memory_order_relaxed);
  } else if (outcome.computed) {
    stats.computed.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats.from_cache.fetch_add(1, std::memory_order_relaxed);
  }
  return Answer{unit, std::move(outcome)};
}

void Session::FillResult(const Answer& answer, v1::Result* result) {
  const KeyedCache::Outcome& outcome = answer.outcome;
  result->set_id(answer.unit.id);
  result->set_key(answer.unit.key);
  result->set_waited(outcome.waited);
  if (outcome.value.ok()) {
    result->set_value(*outcome.value);
    result->set_performed(outcome.computed ? v1::PERFORMED_NEW
                                           : v1::PERFORMED_FROM_CACHE);
  } else {
    result->mutable_error()->set_code(
        static_cast<int32_t>(outcome.value.status().code()));
    result->mutable_error()->set_message(
        std::string(outcome.value.status().message()));
  }
}

void Session::Deliver(Unit unit, std::optional<KeyedCache::Outcome> outcome) {
  Ops ops;
  bool last;
  {
    absl::MutexLock lock(&mu_);
    bool cancelled = false;
    auto it = units_.find(unit.id);
    if (it != units_.end()) {
      cancelled = it->second.state == UnitState::kCancelled;
      // Counted as MakeAnswer (or RunUnit, when skipped) counts it.
      if (!cancelled) record_.Over(outcome, it->second.arrived);
      units_.erase(it);
    }
    if (cancelled) {
      // Answered with CANCELLED when the Cancel came, and counted then; a
      // value computed for the key's waiters is theirs alone.
    } else if (!outcome.has_value() || phase_ >= Phase::kFinishing) {
      // Skipped, or its session ended first: it will never be written.
      if (outcome.has_value()) MakeAnswer(unit, *std::move(outcome));
      --unanswered_;
      env_.stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    } else {
      queue_.push_back(MakeAnswer(unit, *std::move(outcome)));
    }
    last = LetGo(ops);
  }
  AfterLetGo(this, last, std::move(ops));
}

bool Session::LetGo(Ops& ops) {
  --holds_;
  // Once gRPC is done with the session, the last holder frees it.
  if (phase_ == Phase::kDone && holds_ == 0) return true;
  Plan(ops);
  return false;
}

void Session::AfterLetGo(Session* session, bool last, Ops ops) {
  if (last) {
    delete session;
    return;
  }
  // The caller no longer holds the session: once mu_ is released, OnDone may
  // run on the completion-queue thread and free it. A planned operation holds
  // that off (a planned read or write keeps Finish from being planned, and
  // OnDone comes only after Finish), so `session` is touched again only if
  // there is one.
  if (ops.Empty()) return;
  session->Execute(std::move(ops));
}

}  // namespace pieces
