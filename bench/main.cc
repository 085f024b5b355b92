// pieces_bench: the performance suite of the project (see BENCHMARKS.md).
//
// Starts the real work_service and main_service on free ports and a bare echo
// server built from the same gRPC, Protobuf and message shapes (and, for case
// 7, a bare two-hop proxy and backend: hop_proxy.h, hop_backend.h), runs each
// case of the performance issue and prints each figure with the ratio the
// issue names, against a ceiling measured in the same run. Case 9 runs pieces
// beside the Go peer of the same contract (bench/peers/go, --go_peer), path
// by path in the same rounds, and compares their throughput and server CPU. It
// never fails on a figure (benchmarks report, tests assert); it exits 1 only
// when it cannot measure: a service does not start, a call fails, a check of
// its own fails.
//
//   pieces_bench            every case: each figure is the median of 3
//                           rounds of 2 s (about 5 minutes in all)
//   pieces_bench --quick    every case, one short round each (CI)
//   pieces_bench --cases=1,2 --seconds=5 --rounds=5
//   pieces_bench --cases=9 --go_peer=build-release/go/pieces-go
#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cases/cases.h"
#include "common/server_runner.h"
#include "echo_server.h"
#include "grpcpp/grpcpp.h"
#include "hop_backend.h"
#include "hop_proxy.h"
#include "suite.h"

ABSL_FLAG(bool, quick, false,
          "Run every case briefly (CI): about 0.3 s per figure, smaller "
          "fills; the figures are not meant to be quoted");
ABSL_FLAG(std::string, cases, "1,2,3,4,5,6,7,8,9",
          "The cases to run, by the issue's numbers");
ABSL_FLAG(double, seconds, 0,
          "Measuring time of one round, in seconds; 0 means 2 (0.3 with "
          "--quick)");
ABSL_FLAG(int32_t, rounds, 0,
          "Rounds per figure (the median is reported; a ceiling alternates "
          "with its subject); 0 means 3 (1 with --quick)");
ABSL_FLAG(int32_t, window, 128,
          "Units each pipelined stream keeps sent and not yet answered");
ABSL_FLAG(std::string, echo_server, "child",
          "Where the echo server runs: 'child' (this program, started again "
          "as a process of its own, like the services) or 'in_process'");
ABSL_FLAG(std::string, ghz, "/usr/local/bin/ghz",
          "The ghz binary for cases 7 and 9; when missing, their ghz rows "
          "are skipped");
ABSL_FLAG(std::string, go_peer, "",
          "The Go peer (bench/peers/go/build.sh OUT_DIR builds "
          "OUT_DIR/pieces-go) that case 9 runs beside pieces; empty: case 9 "
          "is skipped");
ABSL_FLAG(std::vector<std::string>, cpu_rounds,
          std::vector<std::string>({"50000", "500000"}),
          "Case 3 runs work_service with --work=cpu:N for each N of this "
          "comma-separated list (about 0.24 and 2 ms per unit here)");
ABSL_FLAG(uint64_t, memory_keys, 0,
          "Cases 8 and 9 cache this many keys; 0 means 1,000,000 (100,000 "
          "with "
          "--quick)");
ABSL_FLAG(bool, verbose, false, "Mirror the output of the started services");
ABSL_FLAG(bool, serve_echo, false,
          "Internal: serve the echo service on --port until SIGTERM, as the "
          "child process of a run");
ABSL_FLAG(bool, serve_hop_backend, false,
          "Internal: serve case 7's bare two-hop backend on --port until "
          "SIGTERM, as the child process of a run");
ABSL_FLAG(std::string, serve_hop_proxy, "",
          "Internal: serve case 7's bare two-hop proxy on --port until "
          "SIGTERM, in front of the backend at this host:port");
// Flags the benchmark gives every server it starts (see Suite::StartServer).
ABSL_FLAG(int32_t, port, 0, "With --serve_*: the port; 0 picks a free one");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(1),
          "With --serve_*: how long calls may drain after SIGTERM");

namespace pieces::bench {
namespace {

// --cpu_rounds as numbers, or an error naming the first that is not one.
absl::StatusOr<std::vector<uint64_t>> CpuRounds() {
  std::vector<uint64_t> all;
  for (const std::string& text : absl::GetFlag(FLAGS_cpu_rounds)) {
    uint64_t rounds = 0;
    if (!absl::SimpleAtoi(text, &rounds) || rounds == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cpu_rounds takes positive numbers, not '", text, "'"));
    }
    all.push_back(rounds);
  }
  return all;
}

// The run's settings from the flags, with their defaults applied.
Settings SettingsFromFlags(std::vector<uint64_t> cpu_rounds) {
  Settings settings;
  settings.quick = absl::GetFlag(FLAGS_quick);
  double seconds = absl::GetFlag(FLAGS_seconds);
  if (seconds <= 0) seconds = settings.quick ? 0.3 : 2;
  settings.measure = absl::Seconds(seconds);
  settings.warmup =
      settings.quick ? absl::Milliseconds(100) : absl::Milliseconds(500);
  settings.rounds = absl::GetFlag(FLAGS_rounds);
  if (settings.rounds <= 0) settings.rounds = settings.quick ? 1 : 3;
  settings.window = absl::GetFlag(FLAGS_window);
  settings.verbose = absl::GetFlag(FLAGS_verbose);
  settings.echo_server = absl::GetFlag(FLAGS_echo_server);
  settings.ghz = absl::GetFlag(FLAGS_ghz);
  settings.go_peer = absl::GetFlag(FLAGS_go_peer);
  settings.cpu_rounds = std::move(cpu_rounds);
  settings.memory_keys = absl::GetFlag(FLAGS_memory_keys);
  if (settings.memory_keys == 0) {
    settings.memory_keys = settings.quick ? 100'000 : 1'000'000;
  }
  return settings;
}

// Runs the case numbered `number` (cases/cases.h).
absl::Status RunCase(int number, Suite& suite) {
  switch (number) {
    case 1:
      return RunTransportCeiling(suite);
    case 2:
      return RunCacheHitPath(suite);
    case 3:
      return RunComputePath(suite);
    case 4:
      return RunCoalescing(suite);
    case 5:
      return RunBatchingReference(suite);
    case 6:
      return RunHotKey(suite);
    case 7:
      return RunThroughMainService(suite);
    case 8:
      return RunMemory(suite);
    case 9:
      return RunAgainstGoPeer(suite);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("there is no case ", number, " (cases are 1 to 9)"));
  }
}

// The --serve_* modes: serves `services` (with health and reflection, through
// the same pieces::RunServer as the services) on --port until SIGTERM or
// SIGINT, then lets calls drain for --grace_period. Prints "NAME listening on
// 0.0.0.0:PORT". Returns main's exit code.
int Serve(const std::string& name,
          const std::vector<grpc::Service*>& services) {
  pieces::ServerOptions options;
  options.name = name;
  options.port = absl::GetFlag(FLAGS_port);
  options.grace_period = absl::GetFlag(FLAGS_grace_period);
  absl::Status status = pieces::RunServer(options, services);
  if (!status.ok()) {
    absl::FPrintF(stderr, "%s: %s\n", name, status.message());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace pieces::bench

int main(int argc, char** argv) {
  // Before any thread: the echo server mode waits for SIGTERM synchronously.
  pieces::BlockTerminationSignals();
  // As the services do, for the client and the echo server alike.
  pieces::SkipMutexDeadlockDetection();
  absl::SetProgramUsageMessage(
      "The performance suite: starts work_service, main_service and a bare "
      "echo server, and prints each figure with its ratio to the echo "
      "ceiling.\nUsage: pieces_bench [--quick] [--cases=1,2,...]");
  absl::ParseCommandLine(argc, argv);
  // Started by a run as its servers (Suite::StartServer).
  if (absl::GetFlag(FLAGS_serve_echo)) {
    pieces::bench::EchoServiceImpl echo;
    return pieces::bench::Serve("pieces_bench_echo", {&echo});
  }
  if (absl::GetFlag(FLAGS_serve_hop_backend)) {
    pieces::bench::HopBackendImpl backend;
    pieces::bench::EchoServiceImpl echo;  // The unary second hop.
    return pieces::bench::Serve("pieces_bench_hop_backend", {&backend, &echo});
  }
  if (!absl::GetFlag(FLAGS_serve_hop_proxy).empty()) {
    pieces::bench::HopProxyImpl proxy(absl::GetFlag(FLAGS_serve_hop_proxy));
    return pieces::bench::Serve("pieces_bench_hop_proxy", {&proxy});
  }
  {
    // The bench itself is stopped by SIGINT/SIGTERM as usual.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
  const std::string echo_server = absl::GetFlag(FLAGS_echo_server);
  if (echo_server != "child" && echo_server != "in_process") {
    absl::FPrintF(stderr,
                  "pieces_bench: --echo_server is 'child' or 'in_process'\n");
    return 2;
  }
  std::vector<int> cases;
  for (absl::string_view text :
       absl::StrSplit(absl::GetFlag(FLAGS_cases), ',', absl::SkipEmpty())) {
    int number = 0;
    if (!absl::SimpleAtoi(text, &number) || number < 1 || number > 9) {
      absl::FPrintF(stderr,
                    "pieces_bench: --cases takes numbers 1 to 9, not '%s'\n",
                    text);
      return 2;
    }
    cases.push_back(number);
  }

  absl::StatusOr<std::vector<uint64_t>> cpu_rounds = pieces::bench::CpuRounds();
  if (!cpu_rounds.ok()) {
    absl::FPrintF(stderr, "pieces_bench: %s\n", cpu_rounds.status().message());
    return 2;
  }

  pieces::bench::Suite suite(
      pieces::bench::SettingsFromFlags(*std::move(cpu_rounds)));
  suite.PrintHeader();
  int errors = 0;
  for (int number : cases) {
    absl::Status status = pieces::bench::RunCase(number, suite);
    if (!status.ok()) {
      ++errors;
      absl::FPrintF(stderr, "pieces_bench: case %d could not be measured: %s\n",
                    number, status.message());
    }
  }
  suite.report().PrintTable();
  if (errors > 0) {
    absl::FPrintF(stderr, "pieces_bench: %d case(s) failed to run\n", errors);
    return 1;
  }
  return 0;
}
