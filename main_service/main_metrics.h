// main_service's metrics, for /metrics (common/metrics/metrics_server.h).
//
//   pieces_main_calls_total{method, code}        calls finished, by method
//                                                (Run, RunStream) and gRPC
//                                                status name (OK, CANCELLED,
//                                                DEADLINE_EXCEEDED, ...)
//   pieces_main_call_seconds{method}             histogram: from the call's
//                                                start to its status
//   pieces_main_keys_total                       keys of the calls started
//   pieces_main_units_resent_total               ClusterStats.units_resent
//   pieces_main_replicas{state}                  replicas routable / down
//   pieces_main_replica_up{replica}              1 routable, 0 down
//   pieces_main_replica_units_sent_total{replica}      units written to it
//   pieces_main_replica_units_answered_total{replica}  results from it
//
// A replica's counters are its link's (replica_link.h): they start at 0 when
// main_service first finds the replica, and its series go when it leaves.
//
// Calls are counted once each, when they finish (CallEnded), with relaxed
// atomics and a sharded histogram (no lock); everything else is read at
// scrape time from the counters main_service keeps anyway.
//
// Thread safety: CallEnded from any thread; Collect on the metrics server's
// threads. The replicas and counters it reads must outlive it.
#ifndef PIECES_MAIN_SERVICE_MAIN_METRICS_H_
#define PIECES_MAIN_SERVICE_MAIN_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/metrics/sharded_histogram.h"
#include "grpcpp/support/status.h"
#include "main_service/call.h"
#include "main_service/work_replicas.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace pieces {

class MainMetrics final : public prometheus::Collectable {
 public:
  enum Method { kRun, kRunStream, kMethods };

  MainMetrics(WorkReplicas* replicas, const Call::Counters* counters);

  // The gRPC name of `code` ("OK", "DEADLINE_EXCEEDED"), or "UNKNOWN".
  static const char* CodeName(grpc::StatusCode code);

  // The clock a call's start is read with.
  static int64_t Now() { return ShardedHistogram::NowNanos(); }

  // A call of `method` that started at `start` (Now) finished with `code`.
  void CallEnded(Method method, grpc::StatusCode code, int64_t start);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // gRPC's codes are 0 (OK) to 16 (UNAUTHENTICATED).
  static constexpr int kCodes = 17;

  // Constant after construction.
  WorkReplicas* const replicas_;
  const Call::Counters* const counters_;
  std::unique_ptr<ShardedHistogram> seconds_[kMethods];

  // Atomic: added to from any thread.
  std::atomic<uint64_t> calls_[kMethods][kCodes] = {};
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_MAIN_METRICS_H_
