// The backend of case 7's bare two-hop ceiling (two_hop.proto): answers
// HopBackend.Process the way work_service answers one of main_service's
// sessions when every key is cached, and Echo.Unary like the echo server,
// with no cache, pool or work behind either.
//
// A Process stream runs the same gRPC operations as work_service's session
// for a 1-key Run: read the batch, then write its ResultBatch while the next
// read waits for the half-close, then write the Exited and the OK status in
// one operation (StartWriteAndFinish). One read and one write in flight.
//
// Thread safety: gRPC calls the methods on its own threads; nothing in them
// blocks. The object must outlive the server that serves it.
#ifndef PIECES_BENCH_HOP_BACKEND_H_
#define PIECES_BENCH_HOP_BACKEND_H_

#include "grpcpp/grpcpp.h"
#include "two_hop.grpc.pb.h"

namespace pieces::bench {

class HopBackendImpl final : public HopBackend::CallbackService {
 public:
  grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg>* Process(
      grpc::CallbackServerContext* context) override;
};

// Serves HopBackendImpl and the echo service (echo_server.h; the proxy's
// RunViaUnary calls its Unary) through pieces::RunServer, like the echo
// server, on `port` until SIGTERM or SIGINT. Prints
// "pieces_bench_hop_backend listening on 0.0.0.0:PORT". Call
// pieces::BlockTerminationSignals() first, before any thread starts.
}  // namespace pieces::bench

#endif  // PIECES_BENCH_HOP_BACKEND_H_
