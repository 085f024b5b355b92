#include "echo_server.h"

#include <cstdio>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/server_runner.h"

namespace pieces::bench {
namespace {

void Answer(const EchoRequest& request, EchoReply* reply) {
  reply->set_id(request.id());
  reply->set_key(request.key());
  reply->set_value(request.key());
  reply->set_kind(ECHO_KIND_ECHOED);
}

void Answer(const EchoRequestBatch& request, EchoReplyBatch* reply) {
  reply->mutable_replies()->Reserve(request.requests_size());
  for (const EchoRequest& one : request.requests()) {
    Answer(one, reply->add_replies());
  }
}

// One echo stream. State is guarded by mu_; StartRead, StartWrite and Finish
// are called with mu_ released, because gRPC may run a reaction inline.
template <typename Request, typename Reply>
class EchoStream final : public grpc::ServerBidiReactor<Request, Reply> {
 public:
  EchoStream() {
    {
      absl::MutexLock lock(&mu_);
      reading_ = true;
    }
    this->StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    Ops ops;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        read_closed_ = true;
      } else if (!failed_) {
        Answer(in_, &queue_.emplace_back());
      }
      Plan(ops);
    }
    Execute(ops);
  }

  void OnWriteDone(bool ok) override {
    Ops ops;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        failed_ = true;  // The client is gone: drop what is queued.
        queue_.clear();
      }
      Plan(ops);
    }
    Execute(ops);
  }

  void OnDone() override { delete this; }

 private:
  // A cap on queued replies, so a client that does not read stops being read.
  static constexpr size_t kMaxQueued = 1024;

  struct Ops {
    bool read = false;
    bool write = false;
    bool finish = false;
  };

  void Plan(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!writing_ && !queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      ops.write = true;
    }
    if (!reading_ && !read_closed_ && !failed_ && queue_.size() < kMaxQueued) {
      reading_ = true;
      ops.read = true;
    }
    // Finish once nothing more will be read and everything is written.
    if (!reading_ && (read_closed_ || failed_) && !writing_ && queue_.empty() &&
        !finished_) {
      finished_ = true;
      ops.finish = true;
    }
  }

  void Execute(const Ops& ops) ABSL_LOCKS_EXCLUDED(mu_) {
    if (ops.write) this->StartWrite(&out_);
    if (ops.read) this->StartRead(&in_);
    if (ops.finish) this->Finish(grpc::Status::OK);  // `this` may be gone.
  }

  absl::Mutex mu_;
  Request in_;  // Touched only by the read in flight and OnReadDone.
  Reply out_;   // Touched only while writing_.
  std::deque<Reply> queue_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<EchoRequest, EchoReply>* EchoServiceImpl::Stream(
    grpc::CallbackServerContext* /*context*/) {
  return new EchoStream<EchoRequest, EchoReply>();  // Deletes itself.
}

grpc::ServerBidiReactor<EchoRequestBatch, EchoReplyBatch>*
EchoServiceImpl::StreamBatch(grpc::CallbackServerContext* /*context*/) {
  return new EchoStream<EchoRequestBatch, EchoReplyBatch>();
}

grpc::ServerUnaryReactor* EchoServiceImpl::Unary(
    grpc::CallbackServerContext* context, const EchoKeysRequest* request,
    EchoKeysReply* reply) {
  reply->mutable_results()->Reserve(request->keys_size());
  for (int i = 0; i < request->keys_size(); ++i) {
    EchoReply* result = reply->add_results();
    result->set_id(i);
    result->set_key(request->keys(i));
    result->set_value(request->keys(i));
    result->set_kind(ECHO_KIND_ECHOED);
  }
  reply->set_completed(request->keys_size());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

int ServeEcho(int port, absl::Duration grace_period) {
  EchoServiceImpl service;
  pieces::ServerOptions options;
  options.name = "pieces_bench_echo";
  options.port = port;
  options.grace_period = grace_period;
  absl::Status status = pieces::RunServer(options, {&service});
  if (!status.ok()) {
    absl::FPrintF(stderr, "pieces_bench_echo: %s\n", status.message());
    return 1;
  }
  return 0;
}

absl::StatusOr<InProcessEcho> StartInProcessEcho() {
  InProcessEcho echo;
  echo.service = std::make_unique<EchoServiceImpl>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("0.0.0.0:0", grpc::InsecureServerCredentials(),
                           &echo.port);
  builder.RegisterService(echo.service.get());
  echo.server = builder.BuildAndStart();
  if (echo.server == nullptr || echo.port == 0) {
    return absl::UnavailableError("cannot start the in-process echo server");
  }
  return echo;
}

}  // namespace pieces::bench
