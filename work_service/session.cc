#include "work_service/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pieces {

Session::Session(const SessionEnv& env) : env_(env) {
  // sessions_active was counted by WorkServiceImpl::Process.
  env_.stats->sessions_total.fetch_add(1, std::memory_order_relaxed);
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    Plan(ops);  // The first read.
  }
  Execute(std::move(ops));
}

void Session::OnReadDone(bool ok) {
  Ops ops;
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {
      // The client half-closed (which means Exit) or the call is over.
      read_closed_ = true;
      exit_received_ = true;
    } else if (!finish_status_.has_value()) {
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
      if (exit_received_) {
        FinishWith(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "a second Exit in one session"));
        return;
      }
      exit_received_ = true;
      return;
    case v1::WorkMsg::kCancel:  // Not yet supported: treated as unknown.
    case v1::WorkMsg::MSG_NOT_SET:
      FinishWith(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "a WorkMsg must set exactly one of 'work', 'batch' or 'exit'; this "
          "one set none (or only a field this service does not know)"));
      return;
  }
}

bool Session::AcceptWork(const v1::Work& work, Ops& ops) {
  if (exit_received_) {
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
  // The continuation is made only for a unit that parks.
  const Unit unit{work.id(), work.key()};
  const KeyedCache::Lookup lookup = env_.cache->LookupOrClaim(
      unit.key, [this, unit]() -> KeyedCache::Continuation {
        return [this, unit](KeyedCache::Outcome outcome) {
          Deliver(MakeAnswer(unit, std::move(outcome)));
        };
      });
  switch (lookup.found) {
    case KeyedCache::Found::kReady:
      queue_.push_back(
          MakeAnswer(unit, KeyedCache::Outcome{lookup.value, /*computed=*/false,
                                               /*waited=*/false}));
      break;
    case KeyedCache::Found::kClaimed:
      ++tasks_;
      ops.units.push_back(unit);
      break;
    case KeyedCache::Found::kParked:
      ++tasks_;  // The continuation refers to this session.
      break;
  }
  return true;
}

void Session::OnWriteDone(bool ok) {
  Ops ops;
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
  bool last;
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    last = tasks_ == 0;
  }
  if (last) delete this;
}

void Session::FinishWith(grpc::Status status) {
  if (finish_status_.has_value()) return;
  finish_status_ = std::move(status);
  read_closed_ = true;
  unanswered_ -= queue_.size();
  env_.stats->in_flight.fetch_sub(queue_.size(), std::memory_order_relaxed);
  queue_.clear();
}

void Session::Plan(Ops& ops) {
  if (finish_status_.has_value()) {
    // Finish only once no write is in flight and no operation is about to
    // start: gRPC takes no StartWrite or StartRead after Finish.
    if (!writing_ && starting_ == 0 && !finish_started_) {
      finish_started_ = true;
      ops.finish = *finish_status_;
    }
    return;
  }
  if (!writing_ && NextMessage()) {
    writing_ = true;
    if (out_.has_exited() && read_closed_ && starting_ == 0) {
      // The client has half-closed (main_service's sessions do), so no late
      // Work can arrive: the Exited and the OK status go in one operation,
      // which saves the Finish and the OnWriteDone between them. After an
      // Exit message the session keeps reading and finishes apart instead.
      FinishWith(grpc::Status::OK);
      finish_started_ = true;
      ops.write_and_finish = true;
      return;
    }
    ops.write = true;
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

bool Session::NextMessage() {
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
  if (exit_received_ && unanswered_ == 0 && !exited_sent_) {
    // Every unit has been answered and written: Exited goes last.
    exited_sent_ = true;
    out_.Clear();
    out_.mutable_exited()->set_completed(completed_);
    return true;
  }
  return false;
}

void Session::Execute(Ops ops) {
  while (true) {
    for (const Unit& unit : ops.units) {
      env_.pool->Submit([this, unit] { RunUnit(unit); });
    }
    int started = 0;
    if (ops.write) {
      StartWrite(&out_);
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
    absl::MutexLock lock(&mu_);
    starting_ -= started;
    Plan(ops);
  }
}

void Session::RunUnit(Unit unit) {
  bool ended;
  {
    absl::MutexLock lock(&mu_);
    ended = finish_status_.has_value();
  }
  // The session ended before this unit started: nobody wants its result,
  // and unless another unit waits for the key, it is not computed.
  if (ended && env_.cache->AbandonClaim(unit.key)) {
    env_.stats->cancelled.fetch_add(1, std::memory_order_relaxed);
    Deliver(std::nullopt);
    return;
  }
  Deliver(MakeAnswer(unit,
                     env_.cache->CompleteClaim(unit.key, [this](uint64_t key) {
                       return env_.work->Compute(key);
                     })));
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

void Session::Deliver(std::optional<Answer> answer) {
  Ops ops;
  bool last = false;
  {
    absl::MutexLock lock(&mu_);
    --tasks_;
    if (!answer.has_value() || finish_status_.has_value()) {
      // Skipped, or its session ended first: it will never be written.
      --unanswered_;
      env_.stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    } else {
      queue_.push_back(std::move(*answer));
    }
    // Once gRPC is done with the session, the last task frees it.
    last = done_ && tasks_ == 0;
    if (!last) Plan(ops);
  }
  if (last) {
    delete this;
    return;
  }
  // This task no longer holds the session: once mu_ is released, OnDone may
  // run on a gRPC thread and free it. A planned operation holds that off (a
  // planned read or write keeps Finish from being planned, and OnDone comes
  // only after Finish), so `this` is touched again only if there is one.
  if (ops.Empty()) return;
  Execute(std::move(ops));
}

}  // namespace pieces
