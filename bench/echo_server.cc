#include "echo_server.h"

#include <cstdio>
#include <deque>

#include "answering_stream.h"

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

// Echo streams answer each message with its echo and end with OK alone.
template <typename Request, typename Reply>
struct EchoAnswerer {
  void Answer(const Request& request, std::deque<Reply>* queue) {
    pieces::bench::Answer(request, &queue->emplace_back());
  }
  bool Last(Reply* /*reply*/) { return false; }
};

template <typename Request, typename Reply>
using EchoStream =
    AnsweringStream<Request, Reply, EchoAnswerer<Request, Reply>>;

}  // namespace

grpc::ServerBidiReactor<EchoRequest, EchoReply>* EchoServiceImpl::Stream(
    grpc::CallbackServerContext* /*context*/) {
  return new EchoStream<EchoRequest, EchoReply>();  // Deletes itself.
}

grpc::ServerBidiReactor<EchoRequest, EchoReply>* EchoServiceImpl::StreamHinted(
    grpc::CallbackServerContext* /*context*/) {
  return new EchoStream<EchoRequest, EchoReply>(/*hint_when_queued=*/true);
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
