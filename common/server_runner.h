// Runs a gRPC server the way both services need: listening on every
// interface, in plaintext or TLS, with the standard health service and
// (unless switched off) reflection, until SIGTERM or SIGINT, then draining.
//
// int main(int argc, char** argv) {
//   pieces::BlockTerminationSignals();  // First, before any thread starts.
//   pieces::SkipMutexDeadlockDetection();
//   MyServiceImpl service;
//   return pieces::RunServer({"my_service", port, grace}, {&service}).ok() ? 0
//   : 1;
// }
#ifndef PIECES_COMMON_SERVER_RUNNER_H_
#define PIECES_COMMON_SERVER_RUNNER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/health/async_health_service.h"
#include "grpcpp/grpcpp.h"

namespace pieces {

// Blocks SIGTERM and SIGINT in the calling thread and in every thread it
// starts afterwards, so that RunServer() can wait for them synchronously.
// Call it at the start of main(), before any thread exists.
void BlockTerminationSignals();

// Turns off absl::Mutex deadlock detection in builds with NDEBUG (Release,
// RelWithDebInfo); a build without NDEBUG keeps it. Debian's libabsl is built
// without NDEBUG, so detection is on by default: every Lock and Unlock of
// every absl::Mutex, gRPC's own included, goes through a process-wide
// spinlock and a GraphCycles lookup (about 5,000 instructions per cache-hit
// unit in work_service, measured with callgrind; see BENCHMARKS.md). Call it
// at the start of main(), before the first lock.
void SkipMutexDeadlockDetection();

// How often the servers let a client send HTTP/2 pings (keepalive pings
// included, with or without calls open) before they answer GOAWAY
// "too_many_pings". Clients' keepalive time must not be shorter: main_service
// checks its --work_keepalive_time against it.
inline constexpr absl::Duration kMinClientPingInterval =
    absl::Milliseconds(500);

// A service that serves some of its methods through gRPC's async API, on
// completion queues and threads of its own (work_service's Process: see
// work_service/async_bidi_stream.h). RunServer calls AddCompletionQueues
// before the server starts, StartServing once it has started, and
// StopServing once it has shut down, every call being over.
class AsyncServing {
 public:
  // Adds the queues to `builder` (ServerBuilder::AddCompletionQueue).
  virtual void AddCompletionQueues(grpc::ServerBuilder& builder) = 0;
  // Requests the first calls and starts the threads that take the events.
  virtual void StartServing() = 0;
  // Shuts the queues down, takes their last events and joins the threads.
  virtual void StopServing() = 0;
  // The health service it serves on its own queues instead of gRPC's
  // default one, or null. A server must register it (StartServing requests
  // its calls); RunServer does, and has the server report to it
  // (NOT_SERVING on a stop signal).
  virtual AsyncHealthService* health() { return nullptr; }

 protected:
  ~AsyncServing() = default;
};

struct ServerOptions {
  // The program's name, for log lines.
  std::string name;
  // The TCP port to listen on, on all interfaces; 0 picks a free port.
  int port = 0;
  // How long sessions in progress may take to finish after a stop signal.
  // Calls still running after it are cancelled.
  absl::Duration grace_period = absl::Seconds(10);
  // The largest message a call may send to the server; larger ones end the
  // call with RESOURCE_EXHAUSTED.
  int max_message_bytes = 4 << 20;
  // Called once when a stop signal arrives, before the server stops taking
  // new calls. May be empty.
  std::function<void()> on_stop;
  // How the server authenticates itself (and its clients, with mutual TLS);
  // see MakeServerCredentials in common/tls.h. Null means plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Keepalive towards clients: after keepalive_time without hearing from a
  // client, the server sends it an HTTP/2 ping (calls open or not); with no
  // answer within keepalive_timeout it closes the connection, which cancels
  // the client's calls. So a client that froze or vanished without closing
  // its connection (a stopped process, a host gone from the network) frees
  // its calls and sessions within keepalive_time + keepalive_timeout. An
  // infinite keepalive_time sends no pings.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Whether to serve gRPC server reflection (grpc.reflection.v1alpha), which
  // lets anyone list and describe the services, as grpcurl does.
  bool reflection = true;
  // The services (among those given to RunServer) that serve methods on
  // completion queues of their own. May be empty.
  std::vector<AsyncServing*> async_services;
};

// Serves `services` until SIGTERM or SIGINT (see BlockTerminationSignals).
// The port is this server's alone (no SO_REUSEPORT): if another socket
// listens on it, RunServer fails instead of sharing it.
// Prints "<name> listening on 0.0.0.0:<port>" to stderr once it serves; tests
// read the port from that line. On a signal, marks itself NOT_SERVING for
// health checks, refuses new calls, waits up to the grace period for calls in
// progress and returns OK. Returns an error if it cannot listen.
// Clients may send keepalive pings every kMinClientPingInterval.
absl::Status RunServer(const ServerOptions& options,
                       const std::vector<grpc::Service*>& services);

}  // namespace pieces

#endif  // PIECES_COMMON_SERVER_RUNNER_H_
