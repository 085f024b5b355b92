// A pipelined client of one bidirectional stream: it keeps up to `window`
// units sent and not yet answered, with one write and one read in flight, and
// counts the units answered. Messages that follow one another at once are
// coalesced (StreamOptions::coalesce), as a grpc-go client's are. The same
// client drives the echo streams and WorkService.Process sessions, so that
// their figures compare.
//
// PipelinedStream<Traits> sends until Stop() (or `max_units`), then ends its
// side (Traits::FillLast: Exit for Process, a plain half-close for echo) and
// reads every remaining reply; Wait() returns the call's status.
//
// Traits (see stream_traits.h): Request, Reply; Fill(Request*, id, key) for one
// unit (called `units_per_message` times on a cleared message); Answered(const
// Reply&) -> units it answers; Failed(const Reply&) -> units it answers with
// an error; FillLast(Request*) -> whether to send it with the half-close.
//
// Threads: the reactions run on gRPC's threads; state is guarded by mu_, and
// no gRPC operation is started with mu_ held. Stop() and Wait() may be called
// from any thread.
#ifndef PIECES_BENCH_STREAM_LOAD_H_
#define PIECES_BENCH_STREAM_LOAD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_callback.h"

namespace pieces::bench {

struct StreamOptions {
  // Units sent and not yet answered, at most.
  int window = 128;
  // Units in one request message (1, except for the batching reference).
  int units_per_message = 1;
  // Stop sending after this many units; 0 means until Stop().
  uint64_t max_units = 0;
  // The key of the unit with this id (ids count from 0 in each stream).
  std::function<uint64_t(uint64_t id)> key = [](uint64_t id) { return id; };
  // If set, answered units are added to it as they arrive.
  std::atomic<uint64_t>* answered = nullptr;
  // Write with gRPC's buffer hint while another message follows at once
  // (see Pump).
  bool coalesce = true;
};

template <typename Traits>
class PipelinedStream final
    : public grpc::ClientBidiReactor<typename Traits::Request,
                                     typename Traits::Reply> {
 public:
  using Request = typename Traits::Request;
  using Reply = typename Traits::Reply;
  using Base = grpc::ClientBidiReactor<Request, Reply>;
  // Binds the reactor to a new call, e.g. stub->async()->Process(ctx, r).
  using StartFn = std::function<void(grpc::ClientContext*, Base*)>;

  PipelinedStream(StreamOptions options, const StartFn& start)
      : options_(std::move(options)) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::minutes(10));
    start(&context_, this);
    this->StartRead(&in_);
    this->StartCall();
    started_ = absl::Now();
    Pump();
  }

  // Stops sending new units; the stream ends once every unit is answered.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    Pump();
  }

  // Waits until the call is over and returns its status.
  grpc::Status Wait() {
    done_.WaitForNotification();
    return status_;
  }

  // The call ended early (deadline, cancellation): cancel it.
  void Cancel() { context_.TryCancel(); }

  uint64_t units_answered() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return answered_;
  }
  uint64_t units_failed() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  absl::Time started() const { return started_; }
  // When the last unit was answered (started() if none was yet).
  absl::Time last_answer() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return answered_ == 0 ? started_ : last_answer_;
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) closed_ = true;  // The call is over; OnDone says why.
    }
    if (ok) Pump();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // The stream ended; OnDone follows.
    const uint64_t answered = Traits::Answered(in_);
    const uint64_t failed = Traits::Failed(in_);
    if (answered > 0) {
      {
        absl::MutexLock lock(&mu_);
        answered_ += answered;
        failed_ += failed;
        last_answer_ = absl::Now();
      }
      if (options_.answered != nullptr) {
        options_.answered->fetch_add(answered, std::memory_order_relaxed);
      }
    }
    this->StartRead(&in_);
    if (answered > 0) Pump();
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }

 private:
  // Starts the next write if one can start: a message of new units while the
  // window has room, or the end of the stream once stopped.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    enum { kNone, kUnits, kLast, kWritesDone } action = kNone;
    bool hint = false;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || closed_) return;
      const uint64_t per_message = options_.units_per_message;
      const bool limit_reached =
          options_.max_units != 0 && sent_ >= options_.max_units;
      if (stop_ || limit_reached) {
        closed_ = true;
        out_.Clear();
        action = Traits::FillLast(&out_) ? kLast : kWritesDone;
      } else if (sent_ - answered_ + per_message <=
                 static_cast<uint64_t>(options_.window)) {
        out_.Clear();
        for (uint64_t i = 0; i < per_message; ++i) {
          const uint64_t id = sent_ + i;
          Traits::Fill(&out_, id, options_.key(id));
        }
        sent_ += per_message;
        action = kUnits;
        // Another message fits in the window and follows at once: gRPC may
        // hold this one back and send both in one system call, as grpc-go's
        // writer (and so ghz) does. The message that fills the window, or
        // the last one, goes without the hint and sends what was held.
        hint = options_.coalesce &&
               (options_.max_units == 0 || sent_ < options_.max_units) &&
               sent_ - answered_ + per_message <=
                   static_cast<uint64_t>(options_.window);
      }
      if (action != kNone) writing_ = true;
    }
    switch (action) {
      case kNone:
        return;
      case kUnits: {
        grpc::WriteOptions write_options;
        if (hint) write_options.set_buffer_hint();
        this->StartWrite(&out_, write_options);
        return;
      }
      case kLast:
        this->StartWriteLast(&out_, grpc::WriteOptions());
        return;
      case kWritesDone:
        this->StartWritesDone();
        return;
    }
  }

  // Constant after construction.
  const StreamOptions options_;

  grpc::ClientContext context_;
  Request out_;  // Touched only by Pump while not writing_, and the write.
  Reply in_;     // Touched only by the read in flight and OnReadDone.

  mutable absl::Mutex mu_;
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // The last write has started.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time started_;  // Set in the constructor, read-only after.
  absl::Time last_answer_ ABSL_GUARDED_BY(mu_);

  absl::Notification done_;
  grpc::Status status_;  // Set before done_ is notified.
};

}  // namespace pieces::bench

#endif  // PIECES_BENCH_STREAM_LOAD_H_
