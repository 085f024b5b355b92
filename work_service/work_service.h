// The WorkService implementation: sessions (see session.h) over a thread pool
// and a keyed cache shared by every session of the process.
//
// Thread safety: gRPC calls Process and GetStats on its own threads; Drain may
// be called from any thread. The object must outlive the server that serves
// it. The destructor waits for every queued unit to run, so destroy it after
// the server has shut down.
#ifndef PIECES_WORK_SERVICE_WORK_SERVICE_H_
#define PIECES_WORK_SERVICE_WORK_SERVICE_H_

#include <cstddef>
#include <memory>

#include "common/keyed_cache.h"
#include "common/thread_pool.h"
#include "pieces/v1/work_service.grpc.pb.h"
#include "prometheus/collectable.h"
#include "work_service/pieces/piece.h"
#include "work_service/session.h"
#include "work_service/unit_times.h"
#include "work_service/work_function.h"
#include "work_service/work_stats.h"

namespace pieces {

class WorkServiceImpl final : public v1::WorkService::CallbackService {
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
  ~WorkServiceImpl() override = default;

  grpc::ServerBidiReactor<v1::WorkMsg, v1::ResultMsg>* Process(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::Stats* reply) override;

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
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_WORK_SERVICE_H_
