#include "hop_proxy.h"

#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pieces::bench {
namespace {

// One RunViaStream call, answered from its Process stream (HopStream).
// Threads: the constructor on gRPC's thread for the call; OnMessage on the
// stream's threads, one message at a time; OnStreamDone once, after every
// OnMessage. Between them the stream is the only writer of the reply.
class StreamCall final : public grpc::ServerUnaryReactor {
 public:
  StreamCall(HopBackend::Stub* stub, grpc::CallbackServerContext* context,
             const EchoKeysRequest* request, EchoKeysReply* reply);

  void OnMessage(const v1::ResultMsg& message) {
    if (message.has_batch()) {
      for (const v1::Result& result : message.batch().results()) Take(result);
    } else if (message.has_result()) {
      Take(message.result());
    } else if (message.has_exited()) {
      exited_ = true;
    }
  }

  void OnStreamDone(const grpc::Status& status) {
    if (!status.ok()) {
      Finish(status);
    } else if (!exited_ || taken_ != reply_->results_size() || bad_id_) {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat("the backend answered ", taken_, " of ",
                                       reply_->results_size(), " keys",
                                       exited_ ? "" : " and no Exited")));
    } else {
      reply_->set_completed(taken_);
      Finish(grpc::Status::OK);
    }
  }

  void OnDone() override { delete this; }

 private:
  void Take(const v1::Result& result) {
    if (result.id() >= static_cast<uint64_t>(reply_->results_size())) {
      bad_id_ = true;
      return;
    }
    EchoReply* out = reply_->mutable_results(static_cast<int>(result.id()));
    out->set_id(result.id());
    out->set_key(result.key());
    out->set_value(result.value());
    out->set_kind(ECHO_KIND_ECHOED);
    ++taken_;
  }

  EchoKeysReply* const reply_;
  // Carries the caller's deadline and cancellation to the stream; outlives
  // it (the stream ends before OnStreamDone, which comes before OnDone).
  const std::unique_ptr<grpc::ClientContext> backend_context_;
  // Used only by the stream's reactions (see the class comment).
  int taken_ = 0;
  bool bad_id_ = false;
  bool exited_ = false;
};

// The client side of one Process stream, with the operations of
// main_service's WorkSession. Frees itself, then calls
// StreamCall::OnStreamDone.
class HopStream final
    : public grpc::ClientBidiReactor<v1::WorkMsg, v1::ResultMsg> {
 public:
  static void Start(HopBackend::Stub* stub, grpc::ClientContext* context,
                    const EchoKeysRequest& request, StreamCall* call) {
    auto* stream = new HopStream(call);
    v1::WorkBatch* batch = stream->out_.mutable_batch();
    batch->mutable_works()->Reserve(request.keys_size());
    for (int i = 0; i < request.keys_size(); ++i) {
      v1::Work* work = batch->add_works();
      work->set_id(static_cast<uint64_t>(i));
      work->set_key(request.keys(i));
    }
    stub->async()->Process(context, stream);
    stream->StartRead(&stream->in_);
    // The batch goes with the half-close, which is the session's Exit.
    stream->StartWriteLast(&stream->out_, grpc::WriteOptions());
    stream->StartCall();
  }

  void OnWriteDone(bool /*ok*/) override {}  // A failure ends in OnDone.

  void OnReadDone(bool ok) override {
    if (!ok) return;  // The stream ended; OnDone follows.
    call_->OnMessage(in_);
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    StreamCall* call = call_;
    grpc::Status final_status = status;
    delete this;
    call->OnStreamDone(final_status);
  }

 private:
  explicit HopStream(StreamCall* call) : call_(call) {}
  ~HopStream() override = default;

  StreamCall* const call_;
  v1::WorkMsg out_;   // Written once.
  v1::ResultMsg in_;  // Used only by the read path.
};

StreamCall::StreamCall(HopBackend::Stub* stub,
                       grpc::CallbackServerContext* context,
                       const EchoKeysRequest* request, EchoKeysReply* reply)
    : reply_(reply),
      backend_context_(
          grpc::ClientContext::FromCallbackServerContext(*context)) {
  if (request->keys().empty()) {
    Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no keys"));
    return;
  }
  reply_->mutable_results()->Reserve(request->keys_size());
  for (int i = 0; i < request->keys_size(); ++i) reply_->add_results();
  HopStream::Start(stub, backend_context_.get(), *request, this);
}

// One RunViaUnary call: the backend's reply is the answer.
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(Echo::Stub* stub, grpc::CallbackServerContext* context,
            const EchoKeysRequest* request, EchoKeysReply* reply)
      : backend_context_(
            grpc::ClientContext::FromCallbackServerContext(*context)) {
    stub->async()->Unary(backend_context_.get(), request, reply,
                         [this](grpc::Status status) { Finish(status); });
  }

  void OnDone() override { delete this; }

 private:
  const std::unique_ptr<grpc::ClientContext> backend_context_;
};

}  // namespace

HopProxyImpl::HopProxyImpl(const std::string& backend_address)
    : channel_(grpc::CreateChannel(backend_address,
                                   grpc::InsecureChannelCredentials())),
      hop_stub_(HopBackend::NewStub(channel_)),
      echo_stub_(Echo::NewStub(channel_)) {}

grpc::ServerUnaryReactor* HopProxyImpl::RunViaStream(
    grpc::CallbackServerContext* context, const EchoKeysRequest* request,
    EchoKeysReply* reply) {
  return new StreamCall(hop_stub_.get(), context, request, reply);
}

grpc::ServerUnaryReactor* HopProxyImpl::RunViaUnary(
    grpc::CallbackServerContext* context, const EchoKeysRequest* request,
    EchoKeysReply* reply) {
  return new UnaryCall(echo_stub_.get(), context, request, reply);
}

}  // namespace pieces::bench
