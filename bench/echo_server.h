// The bare echo service behind the ceiling figures: what gRPC alone costs for
// messages shaped like the project's, with no work, cache or pool behind them.
//
// Stream and StreamBatch run like work_service's sessions do on the wire: one
// read and one write in flight at once, replies queued between them, so that
// the client can pipeline. Unary answers like MainService.Run.
//
// Thread safety: gRPC calls the methods on its own threads; the object must
// outlive the server that serves it.
#ifndef PIECES_BENCH_ECHO_SERVER_H_
#define PIECES_BENCH_ECHO_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace pieces::bench {

class EchoServiceImpl final : public Echo::CallbackService {
 public:
  grpc::ServerBidiReactor<EchoRequest, EchoReply>* Stream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<EchoRequest, EchoReply>* StreamHinted(
      grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<EchoRequestBatch, EchoReplyBatch>* StreamBatch(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const EchoKeysRequest* request,
                                  EchoKeysReply* reply) override;
};

// The echo service served inside this process, on a free port.
struct InProcessEcho {
  std::unique_ptr<EchoServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};
absl::StatusOr<InProcessEcho> StartInProcessEcho();

}  // namespace pieces::bench

#endif  // PIECES_BENCH_ECHO_SERVER_H_
