// The proxy of case 7's bare two-hop ceiling (two_hop.proto): a unary front
// door that, per call, makes one call to the backend (hop_backend.h) over one
// channel and answers from it. No pieces code is in the path of a call; it is
// what main_service's Run does with one replica, stripped to gRPC alone:
//
//   RunViaStream  one HopBackend.Process stream per call, with the exact
//                 operations of main_service's WorkSession: StartRead, one
//                 v1::WorkBatch written with StartWriteLast (the half-close),
//                 StartCall; read the v1::ResultBatch and the v1::Exited; the
//                 status; then Finish.
//   RunViaUnary   one Echo.Unary call per call: the cheapest two hops.
//
// Each backend call's ClientContext comes from
// grpc::ClientContext::FromCallbackServerContext, so the caller's deadline
// and cancellation carry over to it, as in main_service.
//
// Thread safety: gRPC calls the methods and every reaction on its own
// threads; nothing blocks. The object must outlive the server that serves it.
#ifndef PIECES_BENCH_HOP_PROXY_H_
#define PIECES_BENCH_HOP_PROXY_H_

#include <memory>
#include <string>

#include "echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "two_hop.grpc.pb.h"

namespace pieces::bench {

class HopProxyImpl final : public HopProxy::CallbackService {
 public:
  // One channel to `backend_address` ("host:port"), shared by every call.
  explicit HopProxyImpl(const std::string& backend_address);

  grpc::ServerUnaryReactor* RunViaStream(grpc::CallbackServerContext* context,
                                         const EchoKeysRequest* request,
                                         EchoKeysReply* reply) override;
  grpc::ServerUnaryReactor* RunViaUnary(grpc::CallbackServerContext* context,
                                        const EchoKeysRequest* request,
                                        EchoKeysReply* reply) override;

 private:
  // Constant after construction.
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<HopBackend::Stub> hop_stub_;
  const std::unique_ptr<Echo::Stub> echo_stub_;
};

// Serves HopProxyImpl through pieces::RunServer, like the echo server, on
// `port` until SIGTERM or SIGINT. Prints
// "pieces_bench_hop_proxy listening on 0.0.0.0:PORT". Call
// pieces::BlockTerminationSignals() first, before any thread starts.
}  // namespace pieces::bench

#endif  // PIECES_BENCH_HOP_PROXY_H_
