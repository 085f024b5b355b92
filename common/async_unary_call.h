// One call of a unary method served through gRPC's async API on a
// completion queue (work_service's GetStats, main_service's GetClusterStats,
// the health service's Check).
//
// The life of such a call: a subclass requests it when made (with its
// service's Request<Method>, passing context_, request_, responder() and
// tag()); when it arrives, Arrived runs, which requests the next call and
// answers this one, at once or later, with Answer; the object frees itself
// once the answer has gone, or when no call came (the server shuts down).
//
// Threads: Complete on the queue's thread; Answer once, from any thread.
#ifndef PIECES_COMMON_ASYNC_UNARY_CALL_H_
#define PIECES_COMMON_ASYNC_UNARY_CALL_H_

#include "common/completion_tag.h"
#include "grpcpp/grpcpp.h"

namespace pieces {

template <typename Request, typename Reply>
class AsyncUnaryCall : public CompletionTag {
 public:
  // The call arrived (ok), or the server shuts down and none came; or the
  // answer went.
  void Complete(bool ok) final {
    if (!ok || answered_) {
      delete this;
      return;
    }
    Arrived();
  }

 protected:
  virtual ~AsyncUnaryCall() = default;

  // The call has arrived: request the next one, and answer this one.
  virtual void Arrived() = 0;

  // Sends `reply` with OK, or only `status` if it is not OK. Once.
  void Answer(const Reply& reply, const grpc::Status& status) {
    answered_ = true;
    responder_.Finish(reply, status, tag());
  }

  grpc::ServerAsyncResponseWriter<Reply>* responder() { return &responder_; }
  void* tag() { return static_cast<CompletionTag*>(this); }

  grpc::ServerContext context_;
  Request request_;

 private:
  grpc::ServerAsyncResponseWriter<Reply> responder_{&context_};
  bool answered_ = false;
};

}  // namespace pieces

#endif  // PIECES_COMMON_ASYNC_UNARY_CALL_H_
