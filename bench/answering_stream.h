// The server side of the bench's bare streams (echo_server.h, hop_backend.h):
// answers each message it reads, in order, with one read and one write in
// flight and the answers queued between them, so that a client can pipeline.
// At most kMaxQueued answers wait; past that the stream stops reading until
// writes catch up.
//
// What an answer is comes from `Answerer`, one per stream, called under the
// stream's lock:
//   void Answer(const Request& request, std::deque<Reply>* queue);
//       queues the answers to `request` (none, or one);
//   bool Last(Reply* reply);
//       once the client has half-closed and every answer is written: true to
//       write `reply` together with the OK status (StartWriteAndFinish, as
//       work_service writes its Exited), false to finish with OK alone.
// With `hint_when_queued`, a reply is written with gRPC's buffer hint while
// more replies are queued behind it (the last one queued never is), so that
// gRPC may send several in one system call, as work_service does.
//
// A failed write (the client is gone) drops what is queued and finishes with
// CANCELLED.
//
// Thread safety: the reactions run on gRPC's threads; the state is guarded by
// mu_, and StartRead, StartWrite and the finishing operations are called with
// mu_ released, because gRPC may run a reaction inline. The stream deletes
// itself when gRPC is done with it.
#ifndef PIECES_BENCH_ANSWERING_STREAM_H_
#define PIECES_BENCH_ANSWERING_STREAM_H_

#include <cstddef>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace pieces::bench {

template <typename Request, typename Reply, typename Answerer>
class AnsweringStream final : public grpc::ServerBidiReactor<Request, Reply> {
 public:
  explicit AnsweringStream(bool hint_when_queued = false)
      : hint_when_queued_(hint_when_queued) {
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
        read_closed_ = true;  // The half-close.
      } else if (!failed_) {
        answerer_.Answer(in_, &queue_);
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
  static constexpr size_t kMaxQueued = 1024;

  struct Ops {
    bool read = false;
    bool write = false;
    bool write_hint = false;
    bool write_last_and_finish = false;
    bool finish_ok = false;
    bool finish_cancelled = false;
  };

  void Plan(Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (failed_) {
      if (!reading_ && !writing_) {
        finished_ = true;
        ops.finish_cancelled = true;
      }
      return;
    }
    if (!writing_ && !queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      ops.write = true;
      ops.write_hint = hint_when_queued_ && !queue_.empty();
    } else if (!writing_ && !reading_ && read_closed_) {
      // Everything is written and nothing more will come.
      finished_ = true;
      out_.Clear();
      if (answerer_.Last(&out_)) {
        ops.write_last_and_finish = true;
      } else {
        ops.finish_ok = true;
      }
      return;
    }
    if (!reading_ && !read_closed_ && queue_.size() < kMaxQueued) {
      reading_ = true;
      ops.read = true;
    }
  }

  void Execute(const Ops& ops) ABSL_LOCKS_EXCLUDED(mu_) {
    if (ops.write) {
      grpc::WriteOptions options;
      if (ops.write_hint) options.set_buffer_hint();
      this->StartWrite(&out_, options);
    }
    if (ops.read) this->StartRead(&in_);
    // The finishing operations are planned alone; after them `this` may be
    // gone.
    if (ops.write_last_and_finish) {
      this->StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
    }
    if (ops.finish_ok) this->Finish(grpc::Status::OK);
    if (ops.finish_cancelled) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "a write failed"));
    }
  }

  const bool hint_when_queued_;
  absl::Mutex mu_;
  Request in_;  // Touched only by the read in flight and OnReadDone.
  Reply out_;   // Touched only while writing_, or by the finishing write.
  Answerer answerer_ ABSL_GUARDED_BY(mu_);
  std::deque<Reply> queue_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pieces::bench

#endif  // PIECES_BENCH_ANSWERING_STREAM_H_
