#include "work_service/work_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/async_unary_call.h"
#include "work_service/work_metrics.h"

namespace pieces {

WorkServiceImpl::WorkServiceImpl(std::unique_ptr<WorkFunction> work,
                                 const Options& options)
    : work_(std::move(work)),
      max_sessions_(options.max_sessions),
      cache_(options.cache_capacity),
      // pool_ is built just after: the piece only keeps its address here.
      piece_(MakePiece(options.piece, PieceEnv{work_.get(), &pool_, &cache_})),
      // Stage 1 has no pool (it runs its own loop): one idle thread then.
      pool_(options.piece == 1 ? 1 : options.threads),
      env_{&pool_,
           &cache_,
           work_.get(),
           &stats_,
           &sessions_,
           piece_.get(),
           piece_ != nullptr && !piece_->DrainsBeforeExited(),
           &deferred_writes_,
           options.max_in_flight,
           &unit_times_},
      metrics_(std::make_shared<WorkMetrics>(&stats_, &cache_, &pool_,
                                             &unit_times_)) {}

WorkServiceImpl::~WorkServiceImpl() { StopServing(); }

void WorkServiceImpl::Drain() { sessions_.Drain(); }

void WorkServiceImpl::AddCompletionQueues(grpc::ServerBuilder& builder) {
  cq_ = builder.AddCompletionQueue();
}

void WorkServiceImpl::StartServing() {
  RequestCall();
  AwaitStats();
  health_.StartServing(cq_.get());
  // One thread takes every event: with two, a message cost as much CPU as
  // with the callback API (async_bidi_stream.h).
  cq_thread_ = std::thread([this] { TakeEvents(); });
}

void WorkServiceImpl::TakeEvents() {
  void* tag;
  bool ok;
  while (true) {
    if (deferred_writes_.empty()) {
      if (!cq_->Next(&tag, &ok)) return;
    } else {
      // Deferred writes wait until no event is ready; gRPC reads what the
      // sockets hold first.
      const grpc::CompletionQueue::NextStatus status =
          cq_->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
      if (status != grpc::CompletionQueue::GOT_EVENT) {
        // Also at shutdown: the sessions let go of their holds.
        deferred_writes_.WriteAll();
        if (status == grpc::CompletionQueue::SHUTDOWN) return;
        continue;
      }
    }
    static_cast<CompletionTag*>(tag)->Complete(ok);
  }
}

void WorkServiceImpl::StopServing() {
  if (cq_ == nullptr || stopped_) return;
  stopped_ = true;
  // The server has shut down: every call is over and the requests still
  // pending have come back (or are queued, failed). A session may still
  // have events queued, and until its OnDone a pool thread may start its
  // next write: the queue stays open until every session is done. Then the
  // thread sees the queue drained and returns.
  if (cq_thread_.joinable()) sessions_.AwaitNone();
  cq_->Shutdown();
  if (cq_thread_.joinable()) {
    cq_thread_.join();
  } else {
    TakeEvents();
  }
}

void WorkServiceImpl::RequestCall() {
  requested_ = std::make_unique<SessionStream::Call>();
  RequestProcess(requested_->context(), requested_->stream(), cq_.get(),
                 cq_.get(), &call_tag_);
}

void WorkServiceImpl::CallCame(bool ok) {
  std::unique_ptr<SessionStream::Call> call = std::move(requested_);
  // Not ok: the server is shutting down and takes no more calls. The call
  // never started, so its done notification will not come either.
  if (!ok) return;
  RequestCall();
  Serve(std::move(call));
}

namespace {

// Answers a Process call that cannot be served with `status` at once.
class RefusedSession final : public SessionStream {
 public:
  RefusedSession(std::unique_ptr<Call> call, const grpc::Status& status)
      : SessionStream(std::move(call)) {
    Finish(status);
  }
  void OnDone() override { delete this; }
};

}  // namespace

void WorkServiceImpl::Serve(std::unique_ptr<SessionStream::Call> call) {
  // Reserve a place first. (Calls arrive one at a time, and sessions release
  // their places in OnDone, all on the completion-queue thread.)
  const uint64_t active =
      stats_.sessions_active.fetch_add(1, std::memory_order_relaxed);
  if (max_sessions_ != 0 && active >= max_sessions_) {
    stats_.sessions_active.fetch_sub(1, std::memory_order_relaxed);
    stats_.sessions_refused.fetch_add(1, std::memory_order_relaxed);
    new RefusedSession(
        std::move(call),
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     absl::StrCat("work_service already has ", max_sessions_,
                                  " sessions open (--max_sessions); try again "
                                  "later")));
    return;
  }
  // Deletes itself; releases the place and leaves sessions_ in OnDone.
  new Session(env_, std::move(call));
}

// Requested, then answered on arrival; freed once the answer has gone.
class WorkServiceImpl::StatsCall final
    : public AsyncUnaryCall<v1::GetStatsRequest, v1::Stats> {
 public:
  explicit StatsCall(WorkServiceImpl* service) : service_(service) {
    service_->RequestGetStats(&context_, &request_, responder(),
                              service_->cq_.get(), service_->cq_.get(), tag());
  }

 private:
  void Arrived() override {
    service_->AwaitStats();
    v1::Stats reply;
    service_->FillStats(&reply);
    Answer(reply, grpc::Status::OK);
  }

  WorkServiceImpl* const service_;
};

void WorkServiceImpl::AwaitStats() { new StatsCall(this); }

void WorkServiceImpl::FillStats(v1::Stats* reply) {
  stats_.CopyTo(reply);
  reply->set_cache_entries(piece_ != nullptr ? piece_->cached_keys()
                                             : cache_.size());
  reply->set_cache_evictions(cache_.evictions());
  reply->set_cache_capacity(cache_.capacity());
  reply->set_threads(piece_ != nullptr ? piece_->threads()
                                       : pool_.num_threads());
  reply->set_piece(piece_ != nullptr ? piece_->number() : 0);
}

}  // namespace pieces
