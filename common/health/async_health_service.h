// The standard gRPC health service (grpc.health.v1.Health: Check and Watch),
// served through gRPC's async API on a completion queue that its owner's
// thread drains, instead of gRPC's default health service, which is served
// through the callback API.
//
// Why: a server with any callback method runs gRPC's callback threads, and
// in gRPC 1.51 those threads poll every connection of the server too, so a
// service that takes its events on one thread of its own (work_service)
// would have its sessions' reads done on other threads and handed over, per
// message. work_service serves Process, GetStats and this service on its one
// completion queue; with gRPC's default health service its CPU per
// single-Work message was about 15% higher (BENCHMARKS.md).
//
// Behaviour, as gRPC's default service: the server as a whole ("") is
// SERVING from the start; other names are known once SetServingStatus names
// them. Check answers a known name's status, or NOT_FOUND. Watch writes the
// status at once (SERVICE_UNKNOWN for an unknown name), then again each time
// it changes, until the client ends the call or the server cancels it at
// shutdown. After Shutdown every name is NOT_SERVING and stays so.
//
// Threads: StartServing, once, after the server has started; the events'
// tags are CompletionTag and are completed on the owner's thread. The
// HealthCheckServiceInterface methods may be called from any thread (the
// server gets a forwarder to them: see ForwardingHealthCheck). The object
// must outlive the server, and the queue must be drained (shut down, every
// event taken) before it is destroyed.
#ifndef PIECES_COMMON_HEALTH_ASYNC_HEALTH_SERVICE_H_
#define PIECES_COMMON_HEALTH_ASYNC_HEALTH_SERVICE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"

namespace pieces {

class AsyncHealthService final
    : public grpc::health::v1::Health::WithAsyncMethod_Check<
          grpc::health::v1::Health::WithAsyncMethod_Watch<
              grpc::health::v1::Health::Service>>,
      public grpc::HealthCheckServiceInterface {
 public:
  AsyncHealthService();
  ~AsyncHealthService() override;

  // Requests the first Check and Watch calls on `cq`.
  void StartServing(grpc::ServerCompletionQueue* cq);

  void SetServingStatus(const std::string& service_name, bool serving) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void SetServingStatus(bool serving) override ABSL_LOCKS_EXCLUDED(mu_);
  void Shutdown() override ABSL_LOCKS_EXCLUDED(mu_);

  // A HealthCheckServiceInterface that the server may own (it deletes the
  // one it is given) and that forwards to `service`.
  static std::unique_ptr<grpc::HealthCheckServiceInterface>
  ForwardingHealthCheck(AsyncHealthService* service);

 private:
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;
  class CheckCall;
  class WatchCall;

  // Requests the next Check (Watch) call, as each arrives.
  void AwaitCheck();
  void AwaitWatch();
  // A name's status: SERVICE_UNKNOWN for a name never set.
  Status StatusOf(const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Has every watcher write its status if it changed.
  void NotifyWatchers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  grpc::ServerCompletionQueue* cq_ = nullptr;  // Set by StartServing.

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Watch calls in progress.
  absl::flat_hash_set<WatchCall*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pieces

#endif  // PIECES_COMMON_HEALTH_ASYNC_HEALTH_SERVICE_H_
