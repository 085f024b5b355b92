// A server bidi stream served through gRPC's async (completion-queue) API,
// with the surface of grpc::ServerBidiReactor that Session uses: StartRead,
// StartWrite, Finish, StartWriteAndFinish and the reactions OnReadDone,
// OnWriteDone, OnCancel and OnDone.
//
// Why: gRPC 1.51's callback API runs reactions on two internal threads
// ("nexting" threads) that wake each other for every message. On sessions of
// 100 single messages (ghz, 8 concurrent, one connection), a bare echo cost
// 6.4-6.7 us of server CPU per message with the callback API and 4.4 us with
// one thread taking every event from one completion queue (with two such
// threads, as much as with the callback API); work_service's echo went from
// 4.7-4.9 us to 3.6-4.4 us when Process moved to this class.
//
// Promises, as ServerBidiReactor's:
//   - the caller keeps at most one read and one write in flight, and starts
//     nothing after Finish or StartWriteAndFinish;
//   - OnCancel runs at most once, when the call is cancelled (the client
//     cancelled or went away, or the server cancelled it at shutdown);
//   - OnDone runs exactly once and last: after the call is over and every
//     operation started has come back. The call's context and stream are
//     freed just before it, so a derived object may live on after OnDone
//     (Session does, while its pool tasks hold it) without holding gRPC's
//     call. The object is the derived class's to delete, in or after OnDone.
//
// Threads: the Start operations may be called from any thread (one read and
// one write in flight may be started from different threads). The reactions
// run on the thread that takes the events from the completion queue
// (CompletionTag::Complete), one at a time, never inline from a Start call.
#ifndef PIECES_WORK_SERVICE_ASYNC_BIDI_STREAM_H_
#define PIECES_WORK_SERVICE_ASYNC_BIDI_STREAM_H_

#include <atomic>
#include <memory>
#include <utility>

#include "common/completion_tag.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/async_stream.h"

namespace pieces {

template <class Request, class Response>
class AsyncBidiStream {
 public:
  // One call, requested before it arrives (the generated RequestMethod takes
  // context() and stream()), then handed to the AsyncBidiStream that serves
  // it. Asks for the done notification at construction, as gRPC wants it
  // before the call is requested.
  class Call {
   public:
    Call() { context_.AsyncNotifyWhenDone(&done_); }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    grpc::ServerContext* context() { return &context_; }
    grpc::ServerAsyncReaderWriter<Response, Request>* stream() {
      return &stream_;
    }

   private:
    friend class AsyncBidiStream;

    grpc::ServerContext context_;
    grpc::ServerAsyncReaderWriter<Response, Request> stream_{&context_};
    // Bound to the AsyncBidiStream once the call has arrived; gRPC returns
    // it only for a call that arrived.
    struct DoneTag final : CompletionTag {
      void Complete(bool /*ok*/) override { owner->DoneCame(); }
      AsyncBidiStream* owner = nullptr;
    } done_;
  };

  AsyncBidiStream(const AsyncBidiStream&) = delete;
  AsyncBidiStream& operator=(const AsyncBidiStream&) = delete;

 protected:
  // `call` has arrived: its request's tag has come back with ok.
  explicit AsyncBidiStream(std::unique_ptr<Call> call)
      : call_(std::move(call)) {
    call_->done_.owner = this;
  }
  virtual ~AsyncBidiStream() = default;

  // The call's context; only until OnDone.
  grpc::ServerContext& context() { return call_->context_; }

  void StartRead(Request* request) {
    pending_.fetch_add(1, std::memory_order_relaxed);
    call_->stream_.Read(request, &read_);
  }
  void StartWrite(const Response* response, grpc::WriteOptions options) {
    pending_.fetch_add(1, std::memory_order_relaxed);
    call_->stream_.Write(*response, options, &write_);
  }
  void Finish(const grpc::Status& status) {
    // Counted in pending_ from the start (see there).
    call_->stream_.Finish(status, &finish_);
  }
  // Writes `response` and finishes with `status` in one operation; no
  // OnWriteDone follows.
  void StartWriteAndFinish(const Response* response, grpc::WriteOptions options,
                           const grpc::Status& status) {
    call_->stream_.WriteAndFinish(*response, options, status, &finish_);
  }

  virtual void OnReadDone(bool /*ok*/) {}
  virtual void OnWriteDone(bool /*ok*/) {}
  virtual void OnCancel() {}
  virtual void OnDone() = 0;

 private:
  // A tag per kind of operation; each calls one member with the event's ok.
  class Tag final : public CompletionTag {
   public:
    using Handler = void (AsyncBidiStream::*)(bool ok);
    Tag(AsyncBidiStream* owner, Handler handler)
        : owner_(owner), handler_(handler) {}
    void Complete(bool ok) override { (owner_->*handler_)(ok); }

   private:
    AsyncBidiStream* const owner_;
    const Handler handler_;
  };

  void ReadCame(bool ok) {
    OnReadDone(ok);
    Release();
  }
  void WriteCame(bool ok) {
    OnWriteDone(ok);
    Release();
  }
  void FinishCame(bool /*ok*/) { Release(); }
  void DoneCame() {
    // Valid once the done notification has come.
    if (call_->context_.IsCancelled()) OnCancel();
    Release();
  }

  // One event is over, after its reaction (which may have started the next
  // operation). The last one frees the call and runs OnDone. After OnDone,
  // `this` may be gone: nothing touches it.
  void Release() {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // May free the done tag whose Complete runs now: it touches nothing
    // after this returns.
    call_.reset();
    OnDone();
  }

  std::unique_ptr<Call> call_;
  Tag read_{this, &AsyncBidiStream::ReadCame};
  Tag write_{this, &AsyncBidiStream::WriteCame};
  Tag finish_{this, &AsyncBidiStream::FinishCame};
  // Events still to come: the done notification and the finish (counted
  // from the start, so that the count cannot reach 0 before Finish has
  // started and come back, even while the call is cancelled with no
  // operation in flight), and each read and write started.
  std::atomic<int> pending_{2};
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_ASYNC_BIDI_STREAM_H_
