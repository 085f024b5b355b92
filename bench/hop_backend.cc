#include "hop_backend.h"

#include <cstdint>
#include <cstdio>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/server_runner.h"
#include "echo_server.h"

namespace pieces::bench {
namespace {

void Answer(const v1::Work& work, v1::Result* result) {
  result->set_id(work.id());
  result->set_key(work.key());
  result->set_value(work.key());
  result->set_performed(v1::PERFORMED_FROM_CACHE);
}

// One Process stream. State is guarded by mu_; StartRead, StartWrite and the
// finishing operations are called with mu_ released, because gRPC may run a
// reaction inline.
class HopSession final
    : public grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg> {
 public:
  HopSession() {
    {
      absl::MutexLock lock(&mu_);
      reading_ = true;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    Ops ops;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        read_closed_ = true;  // The half-close: the session's Exit.
      } else if (!failed_) {
        Accept();
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
  // A cap on queued answers, so a client that does not read stops being read.
  static constexpr size_t kMaxQueued = 1024;

  struct Ops {
    bool read = false;
    bool write = false;
    bool write_exited_and_finish = false;
    bool finish_failed = false;
  };

  // Queues the answer to in_.
  void Accept() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (in_.has_batch()) {
      v1::ResultBatch* batch = queue_.emplace_back().mutable_batch();
      batch->mutable_results()->Reserve(in_.batch().works_size());
      for (const v1::Work& work : in_.batch().works()) {
        Answer(work, batch->add_results());
      }
      completed_ += in_.batch().works_size();
    } else if (in_.has_work()) {
      Answer(in_.work(), queue_.emplace_back().mutable_result());
      ++completed_;
    }
  }

  void Plan(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (failed_) {
      if (!reading_ && !writing_) {
        finished_ = true;
        ops.finish_failed = true;
      }
      return;
    }
    if (!writing_ && !queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      ops.write = true;
    } else if (!writing_ && !reading_ && read_closed_) {
      // Everything is written and nothing more will come: the Exited and
      // the status in one operation, as work_service does after a
      // half-close.
      out_.Clear();
      out_.mutable_exited()->set_completed(completed_);
      finished_ = true;
      ops.write_exited_and_finish = true;
      return;
    }
    if (!reading_ && !read_closed_ && queue_.size() < kMaxQueued) {
      reading_ = true;
      ops.read = true;
    }
  }

  void Execute(const Ops& ops) ABSL_LOCKS_EXCLUDED(mu_) {
    if (ops.write) StartWrite(&out_);
    if (ops.read) StartRead(&in_);
    // Planned alone; after them `this` may be gone.
    if (ops.write_exited_and_finish) {
      StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
    }
    if (ops.finish_failed) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "a write failed"));
    }
  }

  absl::Mutex mu_;
  v1::WorkMsg in_;     // Touched only by the read in flight and OnReadDone.
  v1::ResultMsg out_;  // Touched only while writing_ (or by the last write).
  std::deque<v1::ResultMsg> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg>* HopBackendImpl::Process(
    grpc::CallbackServerContext* /*context*/) {
  return new HopSession();  // Deletes itself.
}

int ServeHopBackend(int port, absl::Duration grace_period) {
  HopBackendImpl backend;
  EchoServiceImpl echo;
  pieces::ServerOptions options;
  options.name = "pieces_bench_hop_backend";
  options.port = port;
  options.grace_period = grace_period;
  absl::Status status = pieces::RunServer(options, {&backend, &echo});
  if (!status.ok()) {
    absl::FPrintF(stderr, "pieces_bench_hop_backend: %s\n", status.message());
    return 1;
  }
  return 0;
}

}  // namespace pieces::bench
