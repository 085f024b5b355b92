#include "main_service/main_metrics.h"

#include <string>

#include "common/grpc_status.h"
#include "common/metrics/metric_families.h"

namespace pieces {
namespace {

const char* MethodName(MainMetrics::Method method) {
  return method == MainMetrics::kRun ? "Run" : "RunStream";
}

}  // namespace

MainMetrics::MainMetrics(WorkReplicas* replicas, const Call::Counters* counters)
    : replicas_(replicas), counters_(counters) {
  for (auto& histogram : seconds_) {
    histogram =
        std::make_unique<ShardedHistogram>(ShardedHistogram::CallBounds());
  }
}

const char* MainMetrics::CodeName(grpc::StatusCode code) {
  const char* name = StatusCodeName(static_cast<int>(code));
  return name != nullptr ? name : "UNKNOWN";
}

void MainMetrics::CallEnded(Method method, grpc::StatusCode code,
                            int64_t start) {
  int i = static_cast<int>(code);
  if (i < 0 || i >= kCodes) i = static_cast<int>(grpc::StatusCode::UNKNOWN);
  calls_[method][i].fetch_add(1, std::memory_order_relaxed);
  seconds_[method]->ObserveSince(start);
}

std::vector<prometheus::MetricFamily> MainMetrics::Collect() const {
  using prometheus::MetricType;
  constexpr auto kOrder = std::memory_order_relaxed;
  std::vector<prometheus::MetricFamily> out;

  prometheus::MetricFamily calls =
      MakeFamily("pieces_main_calls_total",
                 "Run and RunStream calls finished, by method and gRPC status "
                 "code name",
                 MetricType::Counter);
  prometheus::MetricFamily seconds =
      MakeFamily("pieces_main_call_seconds",
                 "Time of a call from its start to its status, by method",
                 MetricType::Histogram);
  for (int m = 0; m < kMethods; ++m) {
    const auto method = static_cast<Method>(m);
    for (int c = 0; c < kCodes; ++c) {
      const uint64_t n = calls_[m][c].load(kOrder);
      // OK is always there, so that a rate has a series from the start.
      if (n == 0 && c != 0) continue;
      AddSample(calls, static_cast<double>(n),
                {{"method", MethodName(method)},
                 {"code", CodeName(static_cast<grpc::StatusCode>(c))}});
    }
    AddHistogram(seconds, seconds_[m]->Snapshot(),
                 {{"method", MethodName(method)}});
  }
  out.push_back(std::move(calls));
  out.push_back(std::move(seconds));

  prometheus::MetricFamily keys =
      MakeFamily("pieces_main_keys_total", "Keys of the calls started",
                 MetricType::Counter);
  AddSample(keys, static_cast<double>(counters_->keys.load(kOrder)));
  out.push_back(std::move(keys));
  prometheus::MetricFamily resent = MakeFamily(
      "pieces_main_units_resent_total",
      "Units sent again to another replica after theirs became unavailable",
      MetricType::Counter);
  AddSample(resent, static_cast<double>(counters_->units_resent.load(kOrder)));
  out.push_back(std::move(resent));

  const std::shared_ptr<const ReplicaView> view = replicas_->View();
  prometheus::MetricFamily states =
      MakeFamily("pieces_main_replicas",
                 "work_service replicas known, by state (routable or down)",
                 MetricType::Gauge);
  prometheus::MetricFamily up = MakeFamily(
      "pieces_main_replica_up",
      "1 while the replica is routable, 0 while it is down", MetricType::Gauge);
  prometheus::MetricFamily sent = MakeFamily(
      "pieces_main_replica_units_sent_total",
      "Units written to the replica's sessions", MetricType::Counter);
  prometheus::MetricFamily answered = MakeFamily(
      "pieces_main_replica_units_answered_total",
      "Results received from the replica's sessions", MetricType::Counter);
  size_t down = 0;
  for (size_t i = 0; i < view->replicas.size(); ++i) {
    const WorkReplica& replica = *view->replicas[i];
    const MetricLabels labels = {{"replica", replica.name}};
    if (view->down[i]) ++down;
    AddSample(up, view->down[i] ? 0 : 1, labels);
    AddSample(sent, static_cast<double>(replica.link->units_sent()), labels);
    AddSample(answered, static_cast<double>(replica.link->units_answered()),
              labels);
  }
  AddSample(states, static_cast<double>(view->replicas.size() - down),
            {{"state", "routable"}});
  AddSample(states, static_cast<double>(down), {{"state", "down"}});
  out.push_back(std::move(states));
  out.push_back(std::move(up));
  out.push_back(std::move(sent));
  out.push_back(std::move(answered));
  return out;
}

}  // namespace pieces
