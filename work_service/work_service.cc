#include "work_service/work_service.h"

#include <utility>

namespace pieces {

WorkServiceImpl::WorkServiceImpl(std::unique_ptr<WorkFunction> work,
                                 const Options& options)
    : work_(std::move(work)),
      pool_(options.threads),
      env_{&pool_, &cache_, work_.get(), &stats_, options.max_in_flight} {}

grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg>* WorkServiceImpl::Process(
    grpc::CallbackServerContext* /*context*/) {
  return new Session(env_);  // Deletes itself.
}

grpc::ServerUnaryReactor* WorkServiceImpl::GetStats(
    grpc::CallbackServerContext* context,
    const v1::GetStatsRequest* /*request*/, v1::Stats* reply) {
  stats_.CopyTo(reply);
  reply->set_cache_entries(cache_.size());
  reply->set_threads(pool_.num_threads());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace pieces
