// What the cases of pieces_bench share: the run's settings (from its flags),
// the servers they start, the measurements they make with those settings, and
// the report their figures go to. Each case (cases/cases.h) is a function of
// a Suite:
//
//   absl::Status RunTransportCeiling(Suite& suite) {
//     if (absl::Status s = suite.EnsureEcho(); !s.ok()) return s;
//     absl::StatusOr<Summary> echo =
//         MeasureRounds(suite.settings().rounds, suite.EchoStreams(1));
//     ...
//     suite.report().Add(Figure("1 transport", ..., RateText(*echo, "msgs")));
//   }
//
// Servers: a case owns what it starts (a ServiceProcess, stopped with
// SIGTERM when it goes out of scope, so at the end of the case); the echo
// server is started once, by the first case that needs it, and the Suite owns
// it. Every server is started from the main thread and dies with the
// benchmark.
//
// Thread safety: none; the cases run one after another on the main thread.
// A MeasureFn made here may run on that thread after the call that made it,
// and must not outlive the Suite or the servers it measures.
#ifndef PIECES_BENCH_SUITE_H_
#define PIECES_BENCH_SUITE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/process/child_process.h"
#include "echo.grpc.pb.h"
#include "echo_server.h"
#include "grpcpp/grpcpp.h"
#include "measure.h"
#include "pieces/v1/work_service.grpc.pb.h"
#include "report.h"
#include "rounds.h"
#include "stream_load.h"
#include "stream_traits.h"
#include "unary_load.h"

namespace pieces::bench {

// The run's settings, as main.cc reads them from the flags (defaults already
// applied). Constant for the whole run.
struct Settings {
  bool quick = false;       // --quick: brief rounds and smaller fills.
  absl::Duration measure;   // One round's measuring window (--seconds).
  absl::Duration warmup;    // Before each window.
  int rounds = 1;           // Rounds per figure (--rounds).
  int window = 128;         // Units in flight per stream (--window).
  bool verbose = false;     // Mirror the started servers' output.
  std::string echo_server;  // "child" or "in_process" (--echo_server).
  std::string ghz;          // The ghz binary for cases 7 and 9 (--ghz).
  std::string go_peer;      // Case 9's Go peer (--go_peer); "" skips it.
  std::vector<uint64_t> cpu_rounds;  // Case 3's N, one run each.
  uint64_t memory_keys = 0;  // Keys cases 8 and 9 cache (--memory_keys).
};

// A server with a connected channel and stub.
template <typename ServiceT>
struct Connected {
  ServiceProcess service;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<typename ServiceT::Stub> stub;
};

// A channel of its own to `address` (a distinct argument keeps gRPC from
// sharing a connection between cases).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address);

// Waits up to 10 s for `channel` to connect.
absl::Status AwaitConnected(grpc::Channel& channel, const std::string& address);

// `service` (as a Suite's Start* returns it) with a channel and a stub,
// connected; the first error on the way.
template <typename ServiceT>
absl::StatusOr<Connected<ServiceT>> Connect(
    absl::StatusOr<ServiceProcess> service) {
  if (!service.ok()) return service.status();
  Connected<ServiceT> connected;
  connected.service = *std::move(service);
  connected.channel = NewChannel(connected.service.address);
  connected.stub = ServiceT::NewStub(connected.channel);
  if (absl::Status s =
          AwaitConnected(*connected.channel, connected.service.address);
      !s.ok()) {
    return s;
  }
  return connected;
}

// work_service's counters (GetStats, with a 10 s deadline).
absl::StatusOr<v1::Stats> GetStats(v1::WorkService::Stub& stub);

// Binds a PipelinedStream to a new Process call on `stub`; Traits is
// ProcessTraits or ProcessBatchTraits.
template <typename Traits = ProcessTraits>
typename PipelinedStream<Traits>::StartFn ProcessStarter(
    v1::WorkService::Stub* stub) {
  return [stub](grpc::ClientContext* context,
                typename PipelinedStream<Traits>::Base* reactor) {
    stub->async()->Process(context, reactor);
  };
}

// Opens one Process session on `stub` with `options`.
inline std::unique_ptr<PipelinedStream<ProcessTraits>> OpenSession(
    v1::WorkService::Stub* stub, const StreamOptions& options) {
  return std::make_unique<PipelinedStream<ProcessTraits>>(options,
                                                          ProcessStarter(stub));
}

// Runs one Process session of `count` units with keys key(id) and `window`
// units in flight to the end; `what` names it in an error.
absl::Status RunSession(v1::WorkService::Stub* stub, uint64_t count,
                        std::function<uint64_t(uint64_t)> key, int window,
                        absl::string_view what);

// What caching fresh keys costs in a work service's resident memory (cases 8
// and 9), as MeasureCacheMemory measures it.
struct CacheMemory {
  int64_t rss_before = 0;  // VmRSS after a 100-unit warm-up session, bytes.
  int64_t rss_after = 0;   // VmRSS once the keys are cached.
  uint64_t entries = 0;    // GetStats cache_entries once they are.
  absl::Duration fill_time;
  double bytes_per_entry = 0;  // (rss_after - rss_before) / keys.
};

// How MeasureCacheMemory caches its keys.
inline constexpr uint64_t kCacheFillSessionUnits = 10'000;
inline constexpr int kCacheFillParallel = 4;

// Runs a 100-unit warm-up session on `work` (so that the baseline has the
// connection, the threads and gRPC's buffers in it), reads its VmRSS, caches
// `keys` fresh keys through Process (sessions of kCacheFillSessionUnits
// units, kCacheFillParallel at a time, `window` units in flight each) and
// reads VmRSS again. The service's cache must not be bounded below `keys`:
// an error unless cache_entries grew by exactly `keys`.
absl::StatusOr<CacheMemory> MeasureCacheMemory(
    const Connected<v1::WorkService>& work, uint64_t keys, int window);

class Suite {
 public:
  explicit Suite(Settings settings);
  Suite(const Suite&) = delete;
  Suite& operator=(const Suite&) = delete;

  const Settings& settings() const { return settings_; }
  Report& report() { return report_; }
  const Report& report() const { return report_; }

  // Adds `text` as a note, unless it is empty (an unmeasured usage).
  void NoteIfAny(const std::string& text);

  // Prints the run's first lines: the machine, its load and the settings.
  void PrintHeader() const;

  // --- Servers --------------------------------------------------------------

  // Starts the server at `path` on a free port with `flags`. It drains for
  // a second when stopped, and dies with the benchmark.
  absl::StatusOr<ServiceProcess> StartServer(
      const std::string& path, std::vector<std::string> flags) const;
  // This program as a server of its own (`flags` name a --serve_* mode).
  absl::StatusOr<ServiceProcess> StartSelf(
      std::vector<std::string> flags) const;
  // work_service with `flags`.
  absl::StatusOr<ServiceProcess> StartWork(
      std::vector<std::string> flags) const;
  absl::StatusOr<Connected<v1::WorkService>> StartConnectedWork(
      std::vector<std::string> flags) const;

  // Starts the echo server (as --echo_server says) unless it runs; the
  // accessors below need it.
  absl::Status EnsureEcho();
  Echo::Stub* echo_stub() const { return echo_stub_.get(); }
  const std::string& echo_address() const { return echo_address_; }
  // The echo server's process, to measure what it uses; none in process.
  std::vector<const ChildProcess*> EchoServers() const;

  // --- Measurements, with the settings' warm-up and window ------------------

  // `streams` PipelinedStream<Traits> with `options`, bound by `start`,
  // measured with what `servers` use (MeasureStreams).
  template <typename Traits>
  MeasureFn StreamLoad(int streams, std::vector<const ChildProcess*> servers,
                       StreamOptions options,
                       typename PipelinedStream<Traits>::StartFn start,
                       std::string what) const {
    return [streams, servers = std::move(servers), options = std::move(options),
            start = std::move(start), what = std::move(what),
            warmup = settings_.warmup,
            measure = settings_.measure]() -> absl::StatusOr<Sample> {
      return MeasureStreams<Traits>(streams, options, start, warmup, measure,
                                    servers, what);
    };
  }
  // The bare echo stream over `streams` streams; needs EnsureEcho(). With
  // `hinted`, its StreamHinted variant (replies coalesced as work_service
  // coalesces its results).
  MeasureFn EchoStreams(int streams, bool hinted = false) const;
  // `sessions` Process sessions on `work` whose keys are key(id).
  MeasureFn ProcessSessions(const Connected<v1::WorkService>& work,
                            int sessions, std::function<uint64_t(uint64_t)> key,
                            std::string what) const;
  // The suite's unary client (MeasureUnary).
  absl::StatusOr<Sample> MeasureUnary(
      int callers, const std::vector<const ChildProcess*>& servers,
      const UnaryCallFn& call, absl::string_view what) const;

 private:
  // Constant after construction.
  const Settings settings_;

  Report report_;

  // The echo server (one of the two) and a stub to it, once EnsureEcho() has
  // started it.
  ServiceProcess echo_child_;
  InProcessEcho in_process_echo_;
  std::string echo_address_;
  std::shared_ptr<grpc::Channel> echo_channel_;
  std::unique_ptr<Echo::Stub> echo_stub_;
};

}  // namespace pieces::bench

#endif  // PIECES_BENCH_SUITE_H_
