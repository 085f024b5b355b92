#include "work_service/work_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
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
           options.max_in_flight,
           &unit_times_},
      metrics_(std::make_shared<WorkMetrics>(&stats_, &cache_, &pool_,
                                             &unit_times_)) {}

void WorkServiceImpl::Drain() { sessions_.Drain(); }

namespace {

// Answers a Process call that cannot be served with `status` at once.
class RefusedSession final
    : public grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg> {
 public:
  explicit RefusedSession(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg>* WorkServiceImpl::Process(
    grpc::CallbackServerContext* context) {
  // Reserve a place first, so that concurrent calls cannot overshoot.
  const uint64_t active =
      stats_.sessions_active.fetch_add(1, std::memory_order_relaxed);
  if (max_sessions_ != 0 && active >= max_sessions_) {
    stats_.sessions_active.fetch_sub(1, std::memory_order_relaxed);
    stats_.sessions_refused.fetch_add(1, std::memory_order_relaxed);
    return new RefusedSession(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("work_service already has ", max_sessions_,
                     " sessions open (--max_sessions); try again later")));
  }
  // Deletes itself; releases the place and leaves sessions_ in OnDone.
  return new Session(env_, context->peer());
}

grpc::ServerUnaryReactor* WorkServiceImpl::GetStats(
    grpc::CallbackServerContext* context,
    const v1::GetStatsRequest* /*request*/, v1::Stats* reply) {
  stats_.CopyTo(reply);
  reply->set_cache_entries(piece_ != nullptr ? piece_->cached_keys()
                                             : cache_.size());
  reply->set_cache_evictions(cache_.evictions());
  reply->set_cache_capacity(cache_.capacity());
  reply->set_threads(piece_ != nullptr ? piece_->threads()
                                       : pool_.num_threads());
  reply->set_piece(piece_ != nullptr ? piece_->number() : 0);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace pieces
