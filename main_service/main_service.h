// The MainService implementation. Each Run or RunStream call is a Call
// (call.h): its keys go, each to the replica that owns it (router.h), over
// the long-lived Process sessions shared by every call (replica_link.h) to
// the work service replicas (work_replicas.h).
//
// Run collects the results and answers with them in request order; RunStream
// forwards each as it arrives, then one Exited. When the caller cancels or
// its deadline passes, its units are cancelled on the replicas. GetClusterStats
// asks every replica for its Stats.
//
// Threads: every method, and the sessions to the replicas, are served
// through gRPC's async API on one completion queue, whose events one thread
// of the service takes (StartServing to StopServing): no callback API, whose
// threads would poll every connection too and hand each event over (as in
// work_service; see README.md, "What it is"). Nothing on that thread blocks.
// The object must outlive the server that serves it.
#ifndef PIECES_MAIN_SERVICE_MAIN_SERVICE_H_
#define PIECES_MAIN_SERVICE_MAIN_SERVICE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/health/async_health_service.h"
#include "common/server_runner.h"
#include "grpcpp/grpcpp.h"
#include "main_service/call.h"
#include "main_service/event_queue.h"
#include "main_service/main_metrics.h"
#include "main_service/work_replicas.h"
#include "pieces/v1/main_service.grpc.pb.h"

namespace pieces {

class MainServiceImpl final : public v1::MainService::AsyncService,
                              public AsyncServing {
 public:
  // Which ends of Run and RunStream calls are logged (event call_end); the
  // metrics count every call whatever this says.
  enum class CallLog {
    kAll,     // Every call: an access log, one line per call.
    kFailed,  // Calls that end with a status other than OK.
    kNone,
  };
  // "all", "failed" or "none"; INVALID_ARGUMENT, saying so, otherwise.
  static absl::StatusOr<CallLog> ParseCallLog(absl::string_view name);

  struct Options {
    // Where the work service replicas listen: "host:port[,host:port...]",
    // each host a name that may resolve to several addresses (see
    // work_replicas.h).
    std::string work_address = "localhost:50052";
    // How often the names are resolved again (also at once after a replica
    // fails).
    absl::Duration resolve_interval = absl::Seconds(5);
    // The most keys one request may carry.
    size_t max_keys = 100000;
    // The most keys of calls in progress, over every call (key_budget.h);
    // 0 means no bound.
    size_t max_keys_in_progress = 1000000;
    // How to reach work_service: TLS or plaintext (see MakeChannelCredentials
    // in common/tls.h). Null means plaintext.
    std::shared_ptr<grpc::ChannelCredentials> work_credentials;
    // How the shared sessions to each replica are used.
    ReplicaLink::Options link;
    // HTTP/2 keepalive towards each replica (see work_replicas.h).
    absl::Duration work_keepalive_time = absl::Seconds(1);
    absl::Duration work_keepalive_timeout = absl::Seconds(2);
    CallLog log_calls = CallLog::kFailed;
    // At StopServing, how long the shared sessions may take to end (Exit,
    // and each replica's Exited) before they are cancelled.
    absl::Duration close_timeout = absl::Seconds(10);
  };

  // INVALID_ARGUMENT when options.work_address is malformed.
  static absl::StatusOr<std::unique_ptr<MainServiceImpl>> Create(
      const Options& options);

  ~MainServiceImpl() override;

  // AsyncServing: the queue, its thread, and the calls requested on it.
  void AddCompletionQueues(grpc::ServerBuilder& builder) override;
  void StartServing() override;
  // After the server has shut down (every call over): ends the shared
  // sessions to the replicas (see WorkReplicas::CloseLinks; within
  // Options::close_timeout), then the queue and its thread.
  void StopServing() override;
  AsyncHealthService* health() override { return &health_; }

  // INVALID_ARGUMENT, saying why, when `request` cannot be run;
  // DEADLINE_EXCEEDED when the call's deadline has passed already.
  absl::Status Validate(const grpc::ServerContextBase& context,
                        const v1::RunRequest& request) const;
  // Validate, then `call` takes the request's keys from the budget
  // (RESOURCE_EXHAUSTED if they do not fit).
  grpc::Status Admit(const grpc::ServerContextBase& context,
                     const v1::RunRequest& request, Call& call);

  // Whether a call that ends with `status` is logged (Options::log_calls).
  bool LogsCallEnd(const grpc::Status& status) const;

  WorkReplicas* replicas() { return replicas_.get(); }
  Call::Counters* counters() { return &counters_; }
  KeyBudget* budget() { return &budget_; }
  // The service's metrics (main_metrics.h), to serve on /metrics. Reads this
  // object: stop serving it before the service is destroyed.
  const std::shared_ptr<MainMetrics>& metrics() const { return metrics_; }

  // The queue every call and session of the service completes on; for the
  // calls (theirs and the next ones they request).
  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }
  // Requests the next call of each method, as one arrives.
  void AwaitRun();
  void AwaitRunStream();
  void AwaitClusterStats();

 private:
  MainServiceImpl(const Options& options,
                  std::unique_ptr<WorkReplicas> replicas,
                  std::shared_ptr<EventQueue> queue);

  // Constant after construction.
  const Options options_;
  // Set by AddCompletionQueues, before the server starts; the links' sessions
  // complete on it too (queue_ points to it and takes its events).
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  const std::shared_ptr<EventQueue> queue_;
  const std::unique_ptr<WorkReplicas> replicas_;
  AsyncHealthService health_;
  std::thread cq_thread_;
  bool stopped_ = false;  // StopServing has run.

  Call::Counters counters_;
  KeyBudget budget_;
  const std::shared_ptr<MainMetrics> metrics_;
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_MAIN_SERVICE_H_
