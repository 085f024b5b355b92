#include "hop_backend.h"

#include <cstdint>
#include <cstdio>
#include <deque>

#include "answering_stream.h"
#include "echo_server.h"

namespace pieces::bench {
namespace {

void AnswerWork(const v1::Work& work, v1::Result* result) {
  result->set_id(work.id());
  result->set_key(work.key());
  result->set_value(work.key());
  result->set_performed(v1::PERFORMED_FROM_CACHE);
}

// A Process stream answers each WorkBatch with one ResultBatch (each Work
// with one Result) and ends, after the half-close, with the Exited and the
// status in one operation, as work_service does.
class HopAnswerer {
 public:
  void Answer(const v1::WorkMsg& message, std::deque<v1::ResultMsg>* queue) {
    if (message.has_batch()) {
      v1::ResultBatch* batch = queue->emplace_back().mutable_batch();
      batch->mutable_results()->Reserve(message.batch().works_size());
      for (const v1::Work& work : message.batch().works()) {
        AnswerWork(work, batch->add_results());
      }
      completed_ += message.batch().works_size();
    } else if (message.has_work()) {
      AnswerWork(message.work(), queue->emplace_back().mutable_result());
      ++completed_;
    }
  }

  bool Last(v1::ResultMsg* reply) {
    reply->mutable_exited()->set_completed(completed_);
    return true;
  }

 private:
  uint64_t completed_ = 0;
};

using HopSession = AnsweringStream<v1::WorkMsg, v1::ResultMsg, HopAnswerer>;

}  // namespace

grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg>* HopBackendImpl::Process(
    grpc::CallbackServerContext* /*context*/) {
  return new HopSession();  // Deletes itself.
}

}  // namespace pieces::bench
