// The WorkService implementation: sessions (see session.h) over a thread pool
// and a keyed cache shared by every session of the process.
//
// Every method is served through gRPC's async API on one completion queue,
// whose events one thread of the service takes (see async_bidi_stream.h for
// why): Process, GetStats, and the standard health service (health(), in
// place of gRPC's default one: no method of the server uses the callback
// API, whose threads would poll the sessions' connections too). A server
// serving the service must call the AsyncServing methods as RunServer does:
// AddCompletionQueues before it starts, StartServing once it has,
// StopServing once it has shut down.
//
// Thread safety: calls arrive on the completion-queue thread; Drain may be
// called from any thread. The object must
// outlive the server that serves it. The destructor waits for every queued
// unit to run, so destroy it after the server has shut down.
#ifndef PIECES_WORK_SERVICE_WORK_SERVICE_H_
#define PIECES_WORK_SERVICE_WORK_SERVICE_H_

#include <cstddef>
#include <memory>
#include <thread>

#include "common/keyed_cache.h"
#include "common/server_runner.h"
#include "common/thread_pool.h"
#include "pieces/v1/work_service.grpc.pb.h"
#include "prometheus/collectable.h"
#include "work_service/async_bidi_stream.h"
#include "work_service/pieces/piece.h"
#include "work_service/session.h"
#include "work_service/unit_times.h"
#include "work_service/work_function.h"
#include "work_service/work_stats.h"

namespace pieces {

class WorkServiceImpl final
    : public v1::WorkService::WithAsyncMethod_GetStats<
          v1::WorkService::WithAsyncMethod_Process<v1::WorkService::Service>>,
      public AsyncServing {
 public:
  struct Options {
    // Threads of the work pool.
    size_t threads = 1;
    // Per-session cap on units received and not yet answered.
    size_t max_in_flight = 1024;
    // The most keys the cache keeps; 0 means no bound.
    size_t cache_capacity = 0;
    // The most sessions open at once; more are refused with
    // RESOURCE_EXHAUSTED. 0 means no limit.
    size_t max_sessions = 0;
    // Which of the article's stages runs the units (1 to kLastPiece, see
    // work_service/pieces/piece.h; stages 1 to 4 have a defect on purpose),
    // or 0 for the service's own design.
    int piece = 0;
  };

  WorkServiceImpl(std::unique_ptr<WorkFunction> work, const Options& options);
  // Stops serving if StopServing was not called (the server must have shut
  // down).
  ~WorkServiceImpl() override;

  // AsyncServing: the one completion queue and its thread.
  void AddCompletionQueues(grpc::ServerBuilder& builder) override;
  void StartServing() override;
  void StopServing() override;
  AsyncHealthService* health() override { return &health_; }

  // The service is stopping: every open session, and every session opened
  // from now on, writes one Draining as soon as it can, so that its client
  // sends it no new work and ends it (see session.h). Work that still comes
  // is answered as usual. Call it once a stop signal has come, before the
  // server stops taking calls (ServerOptions::on_stop); it does not block.
  void Drain();

  // The service's metrics (work_metrics.h), to serve on /metrics. Reads this
  // object: stop serving it before the service is destroyed.
  std::shared_ptr<prometheus::Collectable> metrics() const { return metrics_; }

 private:
  // Constant after construction. Declared before the pool: the pool's
  // destructor runs the last units, which use them.
  const std::unique_ptr<WorkFunction> work_;
  const size_t max_sessions_;
  WorkStats stats_;
  UnitTimes unit_times_;
  SessionRegistry sessions_;
  KeyedCache cache_;
  // With Options::piece; nullptr for the own design. Declared before the
  // pool, whose last tasks may use it (stages 4 and 5), and after the members
  // that its own thread (stage 1's loop) uses while it runs its last units.
  const std::unique_ptr<Piece> piece_;
  ThreadPool pool_;
  const SessionEnv env_;
  const std::shared_ptr<prometheus::Collectable> metrics_;

  // Process calls: one is requested at a time, and requested again as each
  // arrives.
  class CallTag final : public CompletionTag {
   public:
    explicit CallTag(WorkServiceImpl* service) : service_(service) {}
    void Complete(bool ok) override { service_->CallCame(ok); }

   private:
    WorkServiceImpl* const service_;
  };
  // One GetStats call, from its request to its answer.
  class StatsCall;
  // Requests the next GetStats call.
  void AwaitStats();
  // What GetStats answers.
  void FillStats(v1::Stats* reply);

  // Requests the next Process call.
  void RequestCall();
  // The requested call has arrived (ok), or the server is shutting down.
  void CallCame(bool ok);
  // Serves an arrived call: a Session, or a refusal.
  void Serve(std::unique_ptr<SessionStream::Call> call);

  // Takes the queue's events, and starts the deferred writes whenever none
  // is ready, until the queue is shut down and drained. Runs on cq_thread_.
  void TakeEvents();

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  // Runs TakeEvents.
  std::thread cq_thread_;
  // Touched only by TakeEvents and the sessions' reactions, on cq_thread_.
  DeferredWrites deferred_writes_;
  bool stopped_ = false;
  // The call requested and not yet arrived; touched by RequestCall and
  // CallCame, on the completion-queue thread once it runs.
  std::unique_ptr<SessionStream::Call> requested_;
  CallTag call_tag_{this};
  // Served on cq_ too.
  AsyncHealthService health_;
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_WORK_SERVICE_H_
