// pieces_bench: the performance suite of the project (see BENCHMARKS.md).
//
// Starts the real work_service and main_service on free ports and a bare echo
// server built from the same gRPC, Protobuf and message shapes (and, for case
// 7, a bare two-hop proxy and backend: hop_proxy.h, hop_backend.h), runs each
// case of the performance issue and prints each figure with the ratio the
// issue names, against a ceiling measured in the same run. It never fails on a
// figure (benchmarks report, tests assert); it exits 1 only when it cannot
// measure: a service does not start, a call fails, a check of its own fails.
//
//   pieces_bench            every case: each figure is the median of 3
//                           rounds of 2 s (about 5 minutes in all)
//   pieces_bench --quick    every case, one short round each (CI)
//   pieces_bench --cases=1,2 --seconds=5 --rounds=5
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
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
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/process/child_process.h"
#include "common/server_runner.h"
#include "echo.grpc.pb.h"
#include "echo_server.h"
#include "ghz.h"
#include "hop_backend.h"
#include "hop_proxy.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "pieces/v1/work_service.grpc.pb.h"
#include "report.h"
#include "rounds.h"
#include "stream_load.h"
#include "two_hop.grpc.pb.h"
#include "unary_load.h"
#include "work_service/work_function.h"

ABSL_FLAG(bool, quick, false,
          "Run every case briefly (CI): about 0.3 s per figure, smaller "
          "fills; the figures are not meant to be quoted");
ABSL_FLAG(std::string, cases, "1,2,3,4,5,6,7,8",
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
          "The ghz binary for case 7; when missing, its ghz rows are skipped");
ABSL_FLAG(std::vector<std::string>, cpu_rounds,
          std::vector<std::string>({"50000", "500000"}),
          "Case 3 runs work_service with --work=cpu:N for each N of this "
          "comma-separated list (about 0.24 and 2 ms per unit here)");
ABSL_FLAG(uint64_t, memory_keys, 0,
          "Case 8 caches this many keys; 0 means 1,000,000 (100,000 with "
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
// Flags the benchmark gives every server it starts (see Bench::StartServer).
ABSL_FLAG(int32_t, port, 0,
          "With --serve_*: the port; 0 picks a free one");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(1),
          "With --serve_*: how long calls may drain after SIGTERM");

namespace pieces::bench {
namespace {

using v1::MainService;
using v1::WorkService;

// ---------------------------------------------------------------------------
// Stream traits (see stream_load.h).

struct EchoTraits {
  using Request = EchoRequest;
  using Reply = EchoReply;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    request->set_id(id);
    request->set_key(key);
  }
  static uint64_t Answered(const Reply& /*reply*/) { return 1; }
  static uint64_t Failed(const Reply& /*reply*/) { return 0; }
  static bool FillLast(Request* /*request*/) { return false; }
};

struct EchoBatchTraits {
  using Request = EchoRequestBatch;
  using Reply = EchoReplyBatch;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    EchoRequest* one = request->add_requests();
    one->set_id(id);
    one->set_key(key);
  }
  static uint64_t Answered(const Reply& reply) { return reply.replies_size(); }
  static uint64_t Failed(const Reply& /*reply*/) { return 0; }
  static bool FillLast(Request* /*request*/) { return false; }
};

struct ProcessTraits {
  using Request = v1::WorkMsg;
  using Reply = v1::ResultMsg;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    v1::Work* work = request->mutable_work();
    work->set_id(id);
    work->set_key(key);
  }
  static uint64_t Answered(const Reply& reply) {
    return reply.has_result() ? 1 : 0;
  }
  static uint64_t Failed(const Reply& reply) {
    return reply.has_result() && reply.result().has_error() ? 1 : 0;
  }
  static bool FillLast(Request* request) {
    request->mutable_exit();
    return true;
  }
};

// Process sessions that send WorkBatch messages, and so get ResultBatch ones.
struct ProcessBatchTraits {
  using Request = v1::WorkMsg;
  using Reply = v1::ResultMsg;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    v1::Work* work = request->mutable_batch()->add_works();
    work->set_id(id);
    work->set_key(key);
  }
  static uint64_t Answered(const Reply& reply) {
    return reply.has_result() ? 1 : reply.batch().results_size();
  }
  static uint64_t Failed(const Reply& reply) {
    uint64_t failed = reply.has_result() && reply.result().has_error() ? 1 : 0;
    for (const v1::Result& result : reply.batch().results()) {
      failed += result.has_error() ? 1 : 0;
    }
    return failed;
  }
  static bool FillLast(Request* request) {
    request->mutable_exit();
    return true;
  }
};

template <typename Traits>
using Streams = std::vector<std::unique_ptr<PipelinedStream<Traits>>>;

// Waits for every stream; the first non-OK status, or an error if any unit
// failed.
template <typename Traits>
absl::Status AwaitStreams(const Streams<Traits>& streams,
                          absl::string_view what) {
  absl::Status first = absl::OkStatus();
  uint64_t failed = 0;
  for (const auto& stream : streams) {
    grpc::Status status = stream->Wait();
    failed += stream->units_failed();
    if (!status.ok() && first.ok()) {
      first = absl::InternalError(
          absl::StrCat(what, ": a stream ended with ", status.error_code(),
                       " ", status.error_message()));
    }
  }
  if (first.ok() && failed > 0) {
    first = absl::InternalError(
        absl::StrCat(what, ": ", failed, " units came back with an error"));
  }
  return first;
}

// What the server processes of a measurement (none for the in-process echo
// server) use over its window: Start() as it opens, Stop() as it closes, then
// AddTo() with the units answered in it.
class UsageMeter {
 public:
  explicit UsageMeter(std::vector<const ChildProcess*> servers)
      : servers_(std::move(servers)) {}

  absl::Status Start() { return Read(&start_); }
  absl::Status Stop() { return Read(&stop_); }

  // Adds the usage per unit between Start() and Stop() to `sample`.
  void AddTo(uint64_t units, Sample* sample) const {
    if (servers_.empty() || units == 0) return;
    sample->has_usage = true;
    sample->cpu_us_per_unit =
        absl::ToDoubleMicroseconds(stop_.cpu - start_.cpu) / units;
    sample->switches_per_unit =
        static_cast<double>(stop_.context_switches - start_.context_switches) /
        units;
  }

 private:
  absl::Status Read(ChildProcess::Usage* usage) const {
    absl::StatusOr<ChildProcess::Usage> sum = Sum();
    if (!sum.ok()) return sum.status();
    *usage = *sum;
    return absl::OkStatus();
  }

  absl::StatusOr<ChildProcess::Usage> Sum() const {
    ChildProcess::Usage total;
    for (const ChildProcess* server : servers_) {
      absl::StatusOr<ChildProcess::Usage> usage = server->ReadUsage();
      if (!usage.ok()) return usage.status();
      total.cpu += usage->cpu;
      total.context_switches += usage->context_switches;
    }
    return total;
  }

  const std::vector<const ChildProcess*> servers_;
  ChildProcess::Usage start_;
  ChildProcess::Usage stop_;
};

// Measures the steady rate of answered units over `streams` streams, each
// made by `make(i, counter)`: warms up, counts answers over `measure` (and
// what `servers` use meanwhile), then stops the streams and waits for them.
template <typename Traits>
absl::StatusOr<Sample> MeasureStreams(
    int streams, absl::Duration warmup, absl::Duration measure,
    const std::vector<const ChildProcess*>& servers,
    const std::function<std::unique_ptr<PipelinedStream<Traits>>(
        int i, std::atomic<uint64_t>* answered)>& make,
    absl::string_view what) {
  std::atomic<uint64_t> answered{0};
  Streams<Traits> list;
  for (int i = 0; i < streams; ++i) list.push_back(make(i, &answered));
  absl::SleepFor(warmup);
  UsageMeter meter(servers);
  absl::Status status = meter.Start();
  const uint64_t before = answered.load();
  const absl::Time begin = absl::Now();
  absl::SleepFor(measure);
  const uint64_t after = answered.load();
  const absl::Time end = absl::Now();
  if (status.ok()) status = meter.Stop();
  Sample sample;
  sample.rate = static_cast<double>(after - before) /
                absl::ToDoubleSeconds(end - begin);
  if (status.ok()) meter.AddTo(after - before, &sample);
  for (auto& stream : list) stream->Stop();
  absl::Status streams_status = AwaitStreams(list, what);
  if (!streams_status.ok()) return streams_status;
  if (!status.ok()) return status;
  return sample;
}

// ---------------------------------------------------------------------------
// Small helpers.

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // A distinct argument keeps gRPC from sharing a connection between cases.
  static std::atomic<int> next{0};
  args.SetInt("pieces.bench_channel", next.fetch_add(1));
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

absl::Status AwaitConnected(grpc::Channel& channel,
                            const std::string& address) {
  if (!channel.WaitForConnected(std::chrono::system_clock::now() +
                                std::chrono::seconds(10))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Stats> GetStats(WorkService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::Stats stats;
  grpc::Status status = stub.GetStats(&context, v1::GetStatsRequest(), &stats);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetStats: ", status.error_message()));
  }
  return stats;
}

std::string SelfPath() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return "pieces_bench";
  return std::string(path, static_cast<size_t>(n));
}

std::string CpuModel() {
  FILE* file = fopen("/proc/cpuinfo", "r");
  if (file == nullptr) return "unknown";
  char line[512];
  std::string model = "unknown";
  while (fgets(line, sizeof(line), file) != nullptr) {
    absl::string_view text(line);
    if (absl::ConsumePrefix(&text, "model name")) {
      const size_t colon = text.find(':');
      if (colon != absl::string_view::npos) {
        model = std::string(absl::StripAsciiWhitespace(text.substr(colon + 1)));
      }
      break;
    }
  }
  fclose(file);
  return model;
}

// ---------------------------------------------------------------------------
// The suite.

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

std::string Plural(int n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// "42,598 msgs/s (38,000-45,100)": the median and the range of the rounds.
std::string RateText(const Summary& summary, const std::string& unit) {
  std::string text = PerSecond(summary.rate, unit);
  if (summary.samples.size() > 1) {
    absl::StrAppend(&text, " (", Grouped(summary.low), "-",
                    Grouped(summary.high), ")");
  }
  return text;
}

std::string LatencyText(const Summary& summary) {
  return absl::StrCat(RateText(summary, "calls"), ", p50 ",
                      Millis(summary.p50), ", p99 ", Millis(summary.p99));
}

// "echo 10.2 us CPU and 0.8 context switches per msg": the medians of what
// the servers used per unit, when measured.
std::string UsageText(const std::string& who, const Summary& summary,
                      const std::string& unit) {
  if (!summary.has_usage) return "";
  return absl::StrFormat("%s %.1f us CPU and %.2f context switches per %s",
                         who, summary.cpu_us_per_unit,
                         summary.switches_per_unit, unit);
}

// "server use: echo ...; work_service ..." for a pair, or "" if unmeasured.
std::string PairUsage(const Paired& paired, const std::string& ceiling,
                      const std::string& subject, const std::string& unit) {
  if (!paired.ceiling.has_usage && !paired.subject.has_usage) return "";
  std::vector<std::string> parts;
  if (paired.ceiling.has_usage) {
    parts.push_back(UsageText(ceiling, paired.ceiling, unit));
  }
  if (paired.subject.has_usage) {
    parts.push_back(UsageText(subject, paired.subject, unit));
  }
  return absl::StrCat("server side: ", absl::StrJoin(parts, "; "));
}

std::string RatioRange(const Paired& paired) {
  return absl::StrCat("per-round ratios ", TwoDecimals(paired.ratio_low), "-",
                      TwoDecimals(paired.ratio_high));
}

class Bench {
 public:
  explicit Bench(std::vector<uint64_t> cpu_rounds)
      : quick_(absl::GetFlag(FLAGS_quick)),
        window_(absl::GetFlag(FLAGS_window)),
        verbose_(absl::GetFlag(FLAGS_verbose)),
        cpu_rounds_(std::move(cpu_rounds)) {
    double seconds = absl::GetFlag(FLAGS_seconds);
    if (seconds <= 0) seconds = quick_ ? 0.3 : 2;
    measure_ = absl::Seconds(seconds);
    warmup_ = quick_ ? absl::Milliseconds(100) : absl::Milliseconds(500);
    rounds_ = absl::GetFlag(FLAGS_rounds);
    if (rounds_ <= 0) rounds_ = quick_ ? 1 : 3;
  }

  // Runs the case numbered `number`.
  absl::Status Run(int number) {
    switch (number) {
      case 1:
        return TransportCeiling();
      case 2:
        return CacheHitPath();
      case 3:
        return ComputePath();
      case 4:
        return Coalescing();
      case 5:
        return BatchingReference();
      case 6:
        return HotKey();
      case 7:
        return ThroughMainService();
      case 8:
        return Memory();
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("there is no case ", number, " (cases are 1 to 8)"));
    }
  }

  void PrintHeader() {
    absl::PrintF(
        "pieces_bench%s: %s, nproc %d, %s, load average %s\n"
        "  %s per measurement after %s of warm-up, median of %d rounds "
        "(ceilings alternate with their subjects); window %d units per "
        "stream; echo server: %s\n",
        quick_ ? " --quick" : "",
        absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(),
                         absl::UTCTimeZone()),
        std::thread::hardware_concurrency(), CpuModel(), LoadAverage(),
        absl::FormatDuration(measure_), absl::FormatDuration(warmup_), rounds_,
        window_, absl::GetFlag(FLAGS_echo_server));
    fflush(stdout);
  }

  const Report& report() const { return report_; }

 private:
  void NoteIfAny(const std::string& text) {
    if (!text.empty()) report_.Note(text);
  }

  static std::string LoadAverage() {
    FILE* file = fopen("/proc/loadavg", "r");
    if (file == nullptr) return "unknown";
    char text[128] = {};
    const bool read = fgets(text, sizeof(text), file) != nullptr;
    fclose(file);
    if (!read) return "unknown";
    std::vector<absl::string_view> parts =
        absl::StrSplit(text, ' ', absl::SkipEmpty());
    if (parts.size() < 3) return "unknown";
    return absl::StrCat(parts[0], " ", parts[1], " ", parts[2]);
  }

  // --- Services -------------------------------------------------------------

  // Starts the server at `path` (work_service, main_service or this program
  // as echo server) on a free port. It drains for a second when stopped, and
  // dies with the benchmark.
  absl::StatusOr<ServiceProcess> StartServer(
      const std::string& path, std::vector<std::string> flags) const {
    flags.push_back("--grace_period=1s");
    ChildProcessOptions options;
    options.mirror_output = verbose_;
    // The servers are started from the main thread, which lives as long as
    // the benchmark.
    options.die_with_parent = true;
    // The drain of --grace_period, and a little more.
    options.stop_timeout = absl::Seconds(5);
    return StartService(path, std::move(flags), options);
  }

  absl::StatusOr<ServiceProcess> StartWork(std::vector<std::string> flags) {
    return StartServer(PIECES_WORK_SERVICE_BIN, std::move(flags));
  }

  // A work_service (or main_service) with a connected channel and stub.
  template <typename ServiceT>
  struct Connected {
    ServiceProcess service;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<typename ServiceT::Stub> stub;
  };

  template <typename ServiceT>
  static absl::StatusOr<Connected<ServiceT>> Connect(
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

  absl::StatusOr<Connected<WorkService>> StartConnectedWork(
      std::vector<std::string> flags) {
    return Connect<WorkService>(StartWork(std::move(flags)));
  }

  // The echo server, started once and shared by the cases.
  absl::Status EnsureEcho() {
    if (!echo_address_.empty()) return absl::OkStatus();
    if (absl::GetFlag(FLAGS_echo_server) == "in_process") {
      absl::StatusOr<InProcessEcho> echo = StartInProcessEcho();
      if (!echo.ok()) return echo.status();
      in_process_echo_ = *std::move(echo);
      echo_address_ = absl::StrCat("localhost:", in_process_echo_.port);
    } else {
      absl::StatusOr<ServiceProcess> echo =
          StartServer(SelfPath(), {"--serve_echo"});
      if (!echo.ok()) return echo.status();
      echo_child_ = *std::move(echo);
      echo_address_ = echo_child_.address;
    }
    echo_channel_ = NewChannel(echo_address_);
    echo_stub_ = Echo::NewStub(echo_channel_);
    return AwaitConnected(*echo_channel_, echo_address_);
  }

  // The echo server's process, to measure what it uses; none in process.
  std::vector<const ChildProcess*> EchoServers() const {
    if (echo_child_.process == nullptr) return {};
    return {echo_child_.process.get()};
  }

  // --- Stream measurements --------------------------------------------------

  // The bare echo stream over `streams` streams; needs EnsureEcho().
  MeasureFn EchoStreams(int streams) {
    return [this, streams]() -> absl::StatusOr<Sample> {
      Echo::Stub* stub = echo_stub_.get();
      return MeasureStreams<EchoTraits>(
          streams, warmup_, measure_, EchoServers(),
          [&](int, std::atomic<uint64_t>* answered) {
            StreamOptions options;
            options.window = window_;
            options.answered = answered;
            return std::make_unique<PipelinedStream<EchoTraits>>(
                options, [stub](grpc::ClientContext* context, auto* reactor) {
                  stub->async()->Stream(context, reactor);
                });
          },
          "echo stream");
    };
  }

  static PipelinedStream<ProcessTraits>::StartFn ProcessStarter(
      WorkService::Stub* stub) {
    return [stub](grpc::ClientContext* context,
                  PipelinedStream<ProcessTraits>::Base* reactor) {
      stub->async()->Process(context, reactor);
    };
  }

  // Runs one Process session of `count` units with keys key(id) to the end.
  static absl::Status RunSession(WorkService::Stub* stub, uint64_t count,
                                 std::function<uint64_t(uint64_t)> key,
                                 int window, absl::string_view what) {
    StreamOptions options;
    options.window = window;
    options.max_units = count;
    options.key = std::move(key);
    Streams<ProcessTraits> streams;
    streams.push_back(std::make_unique<PipelinedStream<ProcessTraits>>(
        options, ProcessStarter(stub)));
    return AwaitStreams(streams, what);
  }

  // Process sessions on `work`'s stub whose keys are key(id).
  MeasureFn ProcessSessions(const Connected<WorkService>& work, int sessions,
                            std::function<uint64_t(uint64_t)> key,
                            std::string what) {
    WorkService::Stub* stub = work.stub.get();
    const ChildProcess* server = work.service.process.get();
    return [this, stub, server, sessions, key,
            what]() -> absl::StatusOr<Sample> {
      return MeasureStreams<ProcessTraits>(
          sessions, warmup_, measure_, {server},
          [&](int, std::atomic<uint64_t>* answered) {
            StreamOptions options;
            options.window = window_;
            options.answered = answered;
            options.key = key;
            return std::make_unique<PipelinedStream<ProcessTraits>>(
                options, ProcessStarter(stub));
          },
          what);
    };
  }

  // The suite's closed-loop unary client on `call` with `callers` callers,
  // and what `servers` use while it measures.
  absl::StatusOr<Sample> MeasureUnary(
      int callers, const std::vector<const ChildProcess*>& servers,
      const UnaryCallFn& call, absl::string_view what) {
    UsageMeter meter(servers);
    absl::Status usage = absl::OkStatus();
    UnaryLoadOptions load;
    load.callers = callers;
    load.warmup = warmup_;
    load.measure = measure_;
    load.at_window_open = [&] { usage = meter.Start(); };
    load.at_window_close = [&] {
      if (usage.ok()) usage = meter.Stop();
    };
    UnaryLoadResult result = RunUnaryLoad(load, call);
    if (result.errors > 0) {
      return absl::InternalError(absl::StrCat(what, ": ", result.errors,
                                              " calls failed; the first: ",
                                              result.first_error));
    }
    if (!usage.ok()) return usage;
    Sample sample;
    sample.rate = result.calls_per_second;
    sample.p50 = result.p50;
    sample.p99 = result.p99;
    meter.AddTo(result.calls, &sample);
    return sample;
  }

  // --- Case 1 ---------------------------------------------------------------

  absl::Status TransportCeiling() {
    if (absl::Status s = EnsureEcho(); !s.ok()) return s;
    for (int streams : {1, 8}) {
      absl::StatusOr<Summary> echo =
          MeasureRounds(rounds_, EchoStreams(streams));
      if (!echo.ok()) return echo.status();
      report_.Add(Figure("1 transport",
                         absl::StrCat("bare echo stream, ",
                                      Plural(streams, "stream", "streams"),
                                      ", pipelined"),
                         RateText(*echo, "msgs")));
      NoteIfAny(UsageText("server side: echo server", *echo, "msg"));
    }
    return absl::OkStatus();
  }

  // --- Case 2 ---------------------------------------------------------------

  absl::Status CacheHitPath() {
    constexpr uint64_t kKeys = 1024;
    if (absl::Status s = EnsureEcho(); !s.ok()) return s;
    absl::StatusOr<Connected<WorkService>> work =
        StartConnectedWork({"--work=echo"});
    if (!work.ok()) return work.status();
    WorkService::Stub* stub = work->stub.get();
    // Every key the sessions below send is cached first.
    if (absl::Status s = RunSession(stub, kKeys, [](uint64_t id) { return id; },
                                    window_, "cache fill");
        !s.ok()) {
      return s;
    }
    for (int sessions : {1, 8}) {
      absl::StatusOr<Paired> paired = MeasurePaired(
          rounds_, EchoStreams(sessions),
          ProcessSessions(*work, sessions,
                          [](uint64_t id) { return id % kKeys; },
                          "cache-hit sessions"));
      if (!paired.ok()) return paired.status();
      report_.Add(Figure("2 cache hit",
                         absl::StrCat("Process, all keys cached, ",
                                      Plural(sessions, "session", "sessions")),
                         RateText(paired->subject, "results"))
                      .Ratio(paired->ratio, absl::StrCat("of echo x", sessions))
                      .Goal("ratio >= 0.80", paired->ratio >= 0.8));
      report_.Note(absl::StrCat("echo alongside: ",
                                RateText(paired->ceiling, "msgs"), "; ",
                                RatioRange(*paired)));
      NoteIfAny(PairUsage(*paired, "echo server", "work_service", "unit"));
    }
    absl::StatusOr<v1::Stats> stats = GetStats(*stub);
    if (!stats.ok()) return stats.status();
    if (stats->computed() != kKeys) {
      return absl::InternalError(absl::StrCat(
          "cache-hit case: expected ", kKeys, " computations, the service did ",
          stats->computed()));
    }
    report_.Note(absl::StrCat("work_service threads=", stats->threads(),
                              "; computed=", stats->computed(),
                              " (the fill), from_cache=", stats->from_cache()));
    return absl::OkStatus();
  }

  // --- Case 3 ---------------------------------------------------------------

  // What this machine gives `threads` threads that only compute, as case 3's
  // work does (MixRounds with `rounds`), in units per second: the reference
  // for case 3's ratio. On a machine whose other users keep the cores busy,
  // 2 threads get less than twice what 1 thread gets, and no service can do
  // better than that.
  MeasureFn ComputeOnly(int threads, uint64_t rounds) {
    return [this, threads, rounds]() -> absl::StatusOr<Sample> {
      std::atomic<uint64_t> done{0};
      std::atomic<bool> counting{false};
      std::atomic<bool> stop{false};
      std::atomic<uint64_t> sink{0};
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          uint64_t key = static_cast<uint64_t>(t) << 40;
          while (!stop.load(std::memory_order_relaxed)) {
            sink.fetch_add(MixRounds(key++, rounds), std::memory_order_relaxed);
            if (counting.load(std::memory_order_relaxed)) {
              done.fetch_add(1, std::memory_order_relaxed);
            }
          }
        });
      }
      absl::SleepFor(warmup_);
      counting.store(true);
      const absl::Time begin = absl::Now();
      absl::SleepFor(measure_);
      const uint64_t units = done.load();
      const absl::Time end = absl::Now();
      stop.store(true);
      for (std::thread& worker : workers) worker.join();
      Sample sample;
      sample.rate = static_cast<double>(units) /
                    absl::ToDoubleSeconds(end - begin);
      return sample;
    };
  }

  absl::Status ComputePath() {
    for (uint64_t rounds : cpu_rounds_) {
      if (absl::Status s = ComputePathWith(rounds); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Case 3 for --work=cpu:`rounds`: the two services and the bare
  // computation with 1 and 2 threads, all four in the same alternating
  // rounds, so that each service ratio stands beside the machine's own ratio
  // of the same minutes.
  absl::Status ComputePathWith(uint64_t rounds) {
    const std::string work = absl::StrCat("--work=cpu:", rounds);
    // Both services run at once; the rounds alternate between them.
    absl::StatusOr<Connected<WorkService>> one =
        StartConnectedWork({work, "--threads=1"});
    if (!one.ok()) return one.status();
    absl::StatusOr<Connected<WorkService>> two =
        StartConnectedWork({work, "--threads=2"});
    if (!two.ok()) return two.status();
    // Fresh keys: every unit computes.
    auto fresh = [](std::shared_ptr<std::atomic<uint64_t>> next) {
      return [next](uint64_t) { return next->fetch_add(1); };
    };
    absl::StatusOr<std::vector<Summary>> all = MeasureAlternating(
        rounds_,
        {ProcessSessions(*one, 1,
                         fresh(std::make_shared<std::atomic<uint64_t>>(1)),
                         "compute sessions, 1 thread"),
         ProcessSessions(*two, 1,
                         fresh(std::make_shared<std::atomic<uint64_t>>(1)),
                         "compute sessions, 2 threads"),
         ComputeOnly(1, rounds), ComputeOnly(2, rounds)});
    if (!all.ok()) return all.status();
    const Paired paired = PairOf((*all)[0], (*all)[1]);
    const Paired machine = PairOf((*all)[2], (*all)[3]);
    for (const Connected<WorkService>* service : {&*one, &*two}) {
      absl::StatusOr<v1::Stats> stats = GetStats(*service->stub);
      if (!stats.ok()) return stats.status();
      if (stats->from_cache() != 0 || stats->computed() == 0) {
        return absl::InternalError(
            "compute case: a fresh key came from the cache");
      }
    }
    const std::string cpu = absl::StrCat("cpu:", rounds);
    report_.Add(Figure("3 compute",
                       absl::StrCat("Process, ", cpu,
                                    ", fresh keys, 1 session, --threads=1"),
                       RateText(paired.ceiling, "results")));
    report_.Add(Figure("3 compute",
                       absl::StrCat("Process, ", cpu,
                                    ", fresh keys, 1 session, --threads=2"),
                       RateText(paired.subject, "results")));
    report_.Add(Figure("3 compute",
                       absl::StrCat(cpu, ": throughput 2 threads / 1 thread"),
                       TwoDecimals(paired.ratio))
                    .Ratio(paired.ratio, "(2-thread / 1-thread)")
                    .Goal("ratio >= 1.80", paired.ratio >= 1.8));
    report_.Note(RatioRange(paired));
    NoteIfAny(PairUsage(paired, "--threads=1", "--threads=2", "unit"));

    // The machine's own ratio, in the same rounds.
    report_.Add(Figure("3 compute",
                       absl::StrCat(cpu,
                                    ": reference, bare computation in this "
                                    "process, 2 threads / 1 thread, same "
                                    "rounds"),
                       TwoDecimals(machine.ratio))
                    .Ratio(machine.ratio, "(what the machine allows)"));
    // The service's ratio over the machine's, round by round.
    std::vector<double> of_machine;
    for (size_t i = 0; i < (*all)[0].samples.size(); ++i) {
      const double one_thread = (*all)[0].samples[i].rate;
      const double bare_ratio =
          (*all)[2].samples[i].rate > 0
              ? (*all)[3].samples[i].rate / (*all)[2].samples[i].rate
              : 0;
      if (one_thread > 0 && bare_ratio > 0) {
        of_machine.push_back((*all)[1].samples[i].rate / one_thread /
                             bare_ratio);
      }
    }
    std::string per_round;
    if (of_machine.size() > 1) {
      per_round = absl::StrCat(
          " (rounds ",
          TwoDecimals(*std::min_element(of_machine.begin(), of_machine.end())),
          "-",
          TwoDecimals(*std::max_element(of_machine.begin(), of_machine.end())),
          ")");
    }
    report_.Note(absl::StrCat(
        "bare 1 thread ", RateText(machine.ceiling, "units"), ", 2 threads ",
        RateText(machine.subject, "units"), "; ", RatioRange(machine),
        "; the service's ratio ", TwoDecimals(paired.ratio), " is ",
        TwoDecimals(machine.ratio > 0 ? paired.ratio / machine.ratio : 0),
        " of the machine's ", TwoDecimals(machine.ratio), per_round));
    return absl::OkStatus();
  }

  // --- Case 4 ---------------------------------------------------------------

  absl::Status Coalescing() {
    constexpr int kSessions = 50;
    constexpr int kPerSession = 20;  // 1,000 requests in all.
    const int repetitions = quick_ ? 1 : 5;
    absl::StatusOr<Connected<WorkService>> work =
        StartConnectedWork({"--work=sleep:100ms"});
    if (!work.ok()) return work.status();
    WorkService::Stub* stub = work->stub.get();

    std::vector<double> walls_ms;
    std::vector<uint64_t> computations;
    uint64_t waited = 0;
    for (int rep = 0; rep < repetitions; ++rep) {
      absl::StatusOr<v1::Stats> before = GetStats(*stub);
      if (!before.ok()) return before.status();
      const uint64_t key = 1'000'000 + rep;  // Fresh in each repetition.
      const absl::Time start = absl::Now();
      Streams<ProcessTraits> streams;
      for (int i = 0; i < kSessions; ++i) {
        StreamOptions options;
        options.window = kPerSession;
        options.max_units = kPerSession;
        options.key = [key](uint64_t) { return key; };
        streams.push_back(std::make_unique<PipelinedStream<ProcessTraits>>(
            options, ProcessStarter(stub)));
      }
      absl::Status status = AwaitStreams(streams, "coalescing sessions");
      if (!status.ok()) return status;
      absl::Time last = start;
      for (const auto& stream : streams) {
        if (stream->units_answered() != kPerSession) {
          return absl::InternalError("coalescing: a session lost results");
        }
        last = std::max(last, stream->last_answer());
      }
      absl::StatusOr<v1::Stats> after = GetStats(*stub);
      if (!after.ok()) return after.status();
      walls_ms.push_back(absl::ToDoubleMilliseconds(last - start));
      computations.push_back(after->computed() - before->computed());
      waited += after->waited() - before->waited();
    }
    const uint64_t most =
        *std::max_element(computations.begin(), computations.end());
    std::vector<double> sorted = walls_ms;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    report_.Add(Figure("4 coalescing",
                       "1,000 requests for one fresh key, 50 sessions, "
                       "sleep:100ms: computations",
                       absl::StrJoin(computations, ", "))
                    .Goal("1", most == 1));
    report_.Add(Figure("4 coalescing",
                       absl::StrCat("wall time, first send to last result "
                                    "(median of ",
                                    repetitions, ")"),
                       absl::StrFormat("%.3f s", median / 1000))
                    .Goal("< 0.150 s", median < 150));
    std::vector<std::string> each;
    for (double ms : walls_ms) each.push_back(absl::StrFormat("%.0f", ms));
    report_.Note(absl::StrCat("each repetition (ms): ",
                              absl::StrJoin(each, ", "),
                              "; units that waited on the pool: ", waited));
    return absl::OkStatus();
  }

  // --- Case 5 (reference only) ----------------------------------------------

  absl::Status BatchingReference() {
    constexpr int kUnitsPerMessage = 16;
    constexpr uint64_t kKeys = 1024;
    if (absl::Status s = EnsureEcho(); !s.ok()) return s;
    absl::StatusOr<Connected<WorkService>> work =
        StartConnectedWork({"--work=echo"});
    if (!work.ok()) return work.status();
    if (absl::Status s = RunSession(work->stub.get(), kKeys,
                                    [](uint64_t id) { return id; }, window_,
                                    "cache fill");
        !s.ok()) {
      return s;
    }
    WorkService::Stub* work_stub = work->stub.get();
    const ChildProcess* work_server = work->service.process.get();
    for (int streams : {1, 8}) {
      MeasureFn echo_batch = [this, streams]() -> absl::StatusOr<Sample> {
        Echo::Stub* stub = echo_stub_.get();
        return MeasureStreams<EchoBatchTraits>(
            streams, warmup_, measure_, EchoServers(),
            [&](int, std::atomic<uint64_t>* answered) {
              StreamOptions options;
              // As many messages in flight as the one-unit streams have.
              options.window = window_ * kUnitsPerMessage;
              options.units_per_message = kUnitsPerMessage;
              options.answered = answered;
              return std::make_unique<PipelinedStream<EchoBatchTraits>>(
                  options, [stub](grpc::ClientContext* context, auto* reactor) {
                    stub->async()->StreamBatch(context, reactor);
                  });
            },
            "echo batch stream");
      };
      MeasureFn process_batch = [this, streams, work_stub,
                                 work_server]() -> absl::StatusOr<Sample> {
        return MeasureStreams<ProcessBatchTraits>(
            streams, warmup_, measure_, {work_server},
            [&](int, std::atomic<uint64_t>* answered) {
              StreamOptions options;
              options.window = window_ * kUnitsPerMessage;
              options.units_per_message = kUnitsPerMessage;
              options.answered = answered;
              options.key = [](uint64_t id) { return id % kKeys; };
              return std::make_unique<PipelinedStream<ProcessBatchTraits>>(
                  options, ProcessStarter(work_stub));
            },
            "batched cache-hit sessions");
      };
      absl::StatusOr<Paired> paired =
          MeasurePaired(rounds_, EchoStreams(streams), echo_batch);
      if (!paired.ok()) return paired.status();
      report_.Add(Figure("5 batching",
                         absl::StrCat("bare echo stream, 16 units/msg, ",
                                      Plural(streams, "stream", "streams")),
                         RateText(paired->subject, "units"))
                      .Ratio(paired->ratio, absl::StrCat("of echo x", streams,
                                                         " (1 unit/msg)")));
      report_.Note(absl::StrCat("echo alongside: ",
                                RateText(paired->ceiling, "msgs"), "; ",
                                RatioRange(*paired)));
      NoteIfAny(PairUsage(*paired, "1 unit/msg", "16 units/msg", "unit"));

      absl::StatusOr<Paired> versus_single =
          MeasurePaired(rounds_, EchoStreams(streams), process_batch);
      if (!versus_single.ok()) return versus_single.status();
      report_.Add(
          Figure("5 batching",
                 absl::StrCat("Process, all keys cached, 16 units/msg, ",
                              Plural(streams, "session", "sessions")),
                 RateText(versus_single->subject, "results"))
              .Ratio(versus_single->ratio,
                     absl::StrCat("of echo x", streams, " (1 unit/msg)"))
              .Goal("ratio >= 10", versus_single->ratio >= 10));
      absl::StatusOr<Paired> versus_batched =
          MeasurePaired(rounds_, echo_batch, process_batch);
      if (!versus_batched.ok()) return versus_batched.status();
      report_.Add(
          Figure("5 batching",
                 absl::StrCat("the same beside batched echo, ",
                              Plural(streams, "session", "sessions")),
                 RateText(versus_batched->subject, "results"))
              .Ratio(versus_batched->ratio,
                     absl::StrCat("of batched echo x", streams))
              .Goal("ratio >= 0.50", versus_batched->ratio >= 0.5));
      report_.Note(absl::StrCat("batched echo alongside: ",
                                RateText(versus_batched->ceiling, "units"),
                                "; ", RatioRange(*versus_batched)));
    }
    return absl::OkStatus();
  }

  // --- Case 6 ---------------------------------------------------------------

  absl::Status HotKey() {
    constexpr int kHotRequests = 200;
    constexpr int kSessions = 4;
    constexpr uint64_t kHotKey = 777'777;
    // The slow key must stay in progress for the whole measuring window.
    const absl::Duration slow = measure_ + absl::Seconds(1);
    absl::StatusOr<Connected<WorkService>> work = StartConnectedWork(
        {absl::StrCat("--work=sleep:", absl::ToInt64Milliseconds(slow), "ms")});
    if (!work.ok()) return work.status();
    WorkService::Stub* stub = work->stub.get();
    // The unrelated keys (1 and 2) are cached first: their traffic is the
    // cache-hit path, which a slow key should not hold up.
    if (absl::Status s = RunSession(stub, 2, [](uint64_t id) { return 1 + id; },
                                    2, "hot-key fill");
        !s.ok()) {
      return s;
    }

    std::atomic<uint64_t> answered{0};
    Streams<ProcessTraits> unrelated;
    for (int i = 0; i < kSessions; ++i) {
      StreamOptions options;
      options.window = window_;
      options.answered = &answered;
      options.key = [](uint64_t id) { return 1 + id % 2; };
      unrelated.push_back(std::make_unique<PipelinedStream<ProcessTraits>>(
          options, ProcessStarter(stub)));
    }
    auto rate_over = [&](absl::Duration window) {
      const uint64_t before = answered.load();
      const absl::Time begin = absl::Now();
      absl::SleepFor(window);
      return static_cast<double>(answered.load() - before) /
             absl::ToDoubleSeconds(absl::Now() - begin);
    };
    absl::SleepFor(warmup_);
    const double calm = rate_over(measure_);

    // 200 units of one fresh, slow key, in one session.
    StreamOptions hot_options;
    hot_options.window = kHotRequests;
    hot_options.max_units = kHotRequests;
    hot_options.key = [](uint64_t) { return kHotKey; };
    Streams<ProcessTraits> hot;
    hot.push_back(std::make_unique<PipelinedStream<ProcessTraits>>(
        hot_options, ProcessStarter(stub)));
    absl::SleepFor(absl::Milliseconds(100));  // Let the hot units arrive.
    const double during = rate_over(measure_);
    const bool still_hot = hot[0]->units_answered() == 0;

    for (auto& stream : unrelated) stream->Stop();
    absl::Status status = AwaitStreams(unrelated, "unrelated sessions");
    if (status.ok()) status = AwaitStreams(hot, "hot-key session");
    if (!status.ok()) return status;
    absl::StatusOr<v1::Stats> stats = GetStats(*stub);
    if (!stats.ok()) return stats.status();

    const double ratio = calm > 0 ? during / calm : 0;
    report_.Add(Figure("6 hot key",
                       absl::StrCat("cached keys, ", kSessions,
                                    " sessions, no hot key"),
                       PerSecond(calm, "results")));
    report_.Add(Figure("6 hot key",
                       absl::StrCat("the same while ", kHotRequests,
                                    " requests wait on one slow key"),
                       PerSecond(during, "results"))
                    .Ratio(ratio, "of no hot key")
                    .Goal("ratio >= 0.90", ratio >= 0.9));
    report_.Note(absl::StrCat("work_service threads=", stats->threads(),
                              ", slow key sleep:", absl::FormatDuration(slow),
                              "; units that waited: ", stats->waited()));
    if (!still_hot) {
      report_.Note(
          "the slow key finished before the window closed (an overloaded "
          "machine): the second figure covers some time without it");
    }
    return absl::OkStatus();
  }

  // --- Case 7 ---------------------------------------------------------------

  absl::Status ThroughMainService() {
    if (absl::Status s = EnsureEcho(); !s.ok()) return s;
    absl::StatusOr<ServiceProcess> work = StartWork({"--work=echo"});
    if (!work.ok()) return work.status();
    absl::StatusOr<Connected<MainService>> main = Connect<MainService>(
        StartServer(PIECES_MAIN_SERVICE_BIN,
                    {absl::StrCat("--work_address=", work->address)}));
    if (!main.ok()) return main.status();
    MainService::Stub* main_stub = main->stub.get();
    Echo::Stub* echo_stub = echo_stub_.get();
    // A Run's server side is both services.
    const std::vector<const ChildProcess*> run_servers = {
        main->service.process.get(), work->process.get()};

    // The bare two-hop ceiling (hop_proxy.h, hop_backend.h): processes of
    // their own, like main_service and work_service.
    absl::StatusOr<ServiceProcess> hop_backend =
        StartServer(SelfPath(), {"--serve_hop_backend"});
    if (!hop_backend.ok()) return hop_backend.status();
    absl::StatusOr<Connected<HopProxy>> hop_proxy =
        Connect<HopProxy>(StartServer(
            SelfPath(),
            {absl::StrCat("--serve_hop_proxy=", hop_backend->address)}));
    if (!hop_proxy.ok()) return hop_proxy.status();
    HopProxy::Stub* hop_stub = hop_proxy->stub.get();
    const std::vector<const ChildProcess*> hop_servers = {
        hop_proxy->service.process.get(), hop_backend->process.get()};

    const std::string ghz = absl::GetFlag(FLAGS_ghz);
    const bool have_ghz = access(ghz.c_str(), X_OK) == 0;
    if (!have_ghz) {
      report_.Note(absl::StrCat("no ghz at ", ghz, ": its rows are skipped"));
    }

    for (int keys : {1, 100}) {
      v1::RunRequest run_request;
      EchoKeysRequest echo_request;
      std::vector<std::string> json_keys;
      for (int k = 0; k < keys; ++k) {
        run_request.add_keys(k);
        echo_request.add_keys(k);
        json_keys.push_back(absl::StrCat(k));
      }
      const std::string json =
          absl::StrCat("{\"keys\":[", absl::StrJoin(json_keys, ","), "]}");
      {
        // Caches the keys first: the figures are of the cache-hit path.
        grpc::ClientContext context;
        v1::RunReply reply;
        grpc::Status status = main_stub->Run(&context, run_request, &reply);
        if (!status.ok()) {
          return absl::InternalError(
              absl::StrCat("Run: ", status.error_message()));
        }
      }
      for (int callers : {16, 64}) {
        const std::string shape = absl::StrCat(Plural(keys, "key", "keys"),
                                               ", ", callers, " callers");

        // The suite's own client.
        std::vector<EchoKeysReply> echo_replies(callers);
        auto echo_load = [&]() {
          return MeasureUnary(
              callers, EchoServers(),
              [&](int caller, grpc::ClientContext* context,
                  std::function<void(grpc::Status)> done) {
                echo_stub->async()->Unary(context, &echo_request,
                                          &echo_replies[caller],
                                          std::move(done));
              },
              "echo Unary");
        };
        std::vector<v1::RunReply> run_replies(callers);
        auto run_load = [&]() {
          return MeasureUnary(
              callers, run_servers,
              [&](int caller, grpc::ClientContext* context,
                  std::function<void(grpc::Status)> done) {
                main_stub->async()->Run(context, &run_request,
                                        &run_replies[caller], std::move(done));
              },
              "Run");
        };
        // With 1 key, the bare two hops run in the same rounds.
        std::vector<EchoKeysReply> hop_replies(callers);
        auto hop_load = [&](bool via_stream) {
          return [&, via_stream]() {
            return MeasureUnary(
                callers, hop_servers,
                [&, via_stream](int caller, grpc::ClientContext* context,
                                std::function<void(grpc::Status)> done) {
                  if (via_stream) {
                    hop_stub->async()->RunViaStream(context, &echo_request,
                                                    &hop_replies[caller],
                                                    std::move(done));
                  } else {
                    hop_stub->async()->RunViaUnary(context, &echo_request,
                                                   &hop_replies[caller],
                                                   std::move(done));
                  }
                },
                via_stream ? "two-hop RunViaStream" : "two-hop RunViaUnary");
          };
        };
        std::vector<MeasureFn> suite_loads = {echo_load, run_load};
        if (keys == 1) {
          suite_loads.push_back(hop_load(true));
          suite_loads.push_back(hop_load(false));
        }
        absl::StatusOr<std::vector<Summary>> suite =
            MeasureAlternating(rounds_, suite_loads);
        if (!suite.ok()) return suite.status();
        AddUnaryFigures("suite client", shape, keys,
                        PairOf((*suite)[0], (*suite)[1]));
        if (keys == 1) AddTwoHopFigures("suite client", shape, *suite);

        if (!have_ghz) continue;
        GhzOptions echo_ghz;
        echo_ghz.ghz = ghz;
        echo_ghz.data = json;
        echo_ghz.concurrency = callers;
        echo_ghz.duration = measure_;
        echo_ghz.proto = PIECES_SOURCE_DIR "/bench/echo.proto";
        echo_ghz.import_path = PIECES_SOURCE_DIR "/bench";
        echo_ghz.call = "pieces.bench.Echo.Unary";
        echo_ghz.address = echo_address_;
        GhzOptions hop_stream_ghz = echo_ghz;
        hop_stream_ghz.proto = PIECES_SOURCE_DIR "/bench/two_hop.proto";
        // It imports echo.proto and pieces/v1/work.proto.
        hop_stream_ghz.import_path =
            PIECES_SOURCE_DIR "/bench," PIECES_SOURCE_DIR "/proto";
        hop_stream_ghz.call = "pieces.bench.HopProxy.RunViaStream";
        hop_stream_ghz.address = hop_proxy->service.address;
        GhzOptions hop_unary_ghz = hop_stream_ghz;
        hop_unary_ghz.call = "pieces.bench.HopProxy.RunViaUnary";
        GhzOptions run_ghz = echo_ghz;
        run_ghz.proto = PIECES_SOURCE_DIR "/proto/pieces/v1/main_service.proto";
        run_ghz.import_path = PIECES_SOURCE_DIR "/proto";
        run_ghz.call = "pieces.v1.MainService.Run";
        run_ghz.address = main->service.address;
        // ghz has no warm-up: what the servers use is counted over its
        // whole run, per call it completed.
        auto ghz_load = [](const GhzOptions& options,
                           std::vector<const ChildProcess*> servers) {
          return [options, servers]() -> absl::StatusOr<Sample> {
            UsageMeter meter(servers);
            if (absl::Status s = meter.Start(); !s.ok()) return s;
            absl::StatusOr<GhzResult> result = RunGhz(options);
            if (!result.ok()) return result.status();
            if (absl::Status s = meter.Stop(); !s.ok()) return s;
            if (result->errors > 0) {
              return absl::InternalError(absl::StrCat(
                  "ghz: ", options.call, " calls failed:\n", result->summary));
            }
            Sample sample;
            sample.rate = result->calls_per_second;
            sample.p50 = result->p50;
            sample.p99 = result->p99;
            meter.AddTo(result->ok, &sample);
            return sample;
          };
        };
        std::vector<MeasureFn> ghz_loads = {ghz_load(echo_ghz, EchoServers()),
                                            ghz_load(run_ghz, run_servers)};
        if (keys == 1) {
          ghz_loads.push_back(ghz_load(hop_stream_ghz, hop_servers));
          ghz_loads.push_back(ghz_load(hop_unary_ghz, hop_servers));
        }
        absl::StatusOr<std::vector<Summary>> by_ghz =
            MeasureAlternating(rounds_, ghz_loads);
        if (!by_ghz.ok()) return by_ghz.status();
        AddUnaryFigures("ghz", shape, keys,
                        PairOf((*by_ghz)[0], (*by_ghz)[1]));
        if (keys == 1) AddTwoHopFigures("ghz", shape, *by_ghz);
      }
    }
    return absl::OkStatus();
  }

  void AddUnaryFigures(const std::string& client, const std::string& shape,
                       int keys, const Paired& paired) {
    report_.Add(Figure("7 main_service",
                       absl::StrCat("bare unary echo, ", shape, ", ", client),
                       LatencyText(paired.ceiling)));
    Figure run("7 main_service", absl::StrCat("Run, ", shape, ", ", client),
               LatencyText(paired.subject));
    run.Ratio(paired.ratio, "of unary echo");
    if (keys == 1) run.Goal("ratio >= 0.50", paired.ratio >= 0.5);
    report_.Add(std::move(run));
    if (paired.subject.samples.size() > 1) report_.Note(RatioRange(paired));
    NoteIfAny(PairUsage(paired, "echo server", "main_service + work_service",
                        "call"));
  }

  // The bare two-hop rows of case 7, from one MeasureAlternating run of
  // {unary echo, Run, two-hop via stream, two-hop via unary}.
  void AddTwoHopFigures(const std::string& client, const std::string& shape,
                        const std::vector<Summary>& all) {
    const Summary& echo = all[0];
    const Summary& run = all[1];
    const Summary& via_stream = all[2];
    const Summary& via_unary = all[3];
    auto add = [&](const std::string& what, const Summary& subject,
                   const Summary& ceiling, const std::string& of) {
      const Paired paired = PairOf(ceiling, subject);
      report_.Add(Figure("7 main_service",
                         absl::StrCat(what, ", ", shape, ", ", client),
                         LatencyText(subject))
                      .Ratio(paired.ratio, of));
      if (subject.samples.size() > 1) report_.Note(RatioRange(paired));
      NoteIfAny(UsageText("server side: hop proxy + backend", subject,
                          "call"));
    };
    add("bare two-hop ceiling, a Process-like stream per call", via_stream,
        echo, "of unary echo");
    add("bare two-hop, a unary call per call", via_unary, echo,
        "of unary echo");
    const Paired run_of_hop = PairOf(via_stream, run);
    report_.Add(Figure("7 main_service",
                       absl::StrCat("Run / bare two-hop ceiling (stream), ",
                                    shape, ", ", client),
                       TwoDecimals(run_of_hop.ratio))
                    .Ratio(run_of_hop.ratio, "of bare two-hop (stream)"));
    if (run.samples.size() > 1) report_.Note(RatioRange(run_of_hop));
    const Paired stream_of_unary = PairOf(via_unary, via_stream);
    report_.Add(
        Figure("7 main_service",
               absl::StrCat("bare two-hop, stream / unary per call, ", shape,
                            ", ", client),
               TwoDecimals(stream_of_unary.ratio))
            .Ratio(stream_of_unary.ratio, "of bare two-hop (unary)"));
    if (via_stream.samples.size() > 1) {
      report_.Note(RatioRange(stream_of_unary));
    }
  }

  // --- Case 8 ---------------------------------------------------------------

  absl::Status Memory() {
    uint64_t total = absl::GetFlag(FLAGS_memory_keys);
    if (total == 0) total = quick_ ? 100'000 : 1'000'000;
    constexpr uint64_t kPerSession = 10'000;
    constexpr int kParallel = 4;
    constexpr uint64_t kFirstKey = uint64_t{1} << 40;

    // No bound on the cache: with the default --cache_capacity of 1,000,000,
    // the warm-up's keys would push as many of the measured ones out.
    absl::StatusOr<Connected<WorkService>> work =
        StartConnectedWork({"--work=echo", "--cache_capacity=0"});
    if (!work.ok()) return work.status();
    WorkService::Stub* stub = work->stub.get();
    // One small session first, so that the baseline has the connection, the
    // pool's threads and gRPC's buffers in it.
    if (absl::Status s = RunSession(stub, 100, [](uint64_t id) { return id; },
                                    window_, "memory warm-up");
        !s.ok()) {
      return s;
    }
    absl::SleepFor(absl::Milliseconds(200));
    absl::StatusOr<v1::Stats> before = GetStats(*stub);
    if (!before.ok()) return before.status();
    absl::StatusOr<int64_t> rss_before = work->service.process->ResidentBytes();
    if (!rss_before.ok()) return rss_before.status();

    const absl::Time start = absl::Now();
    uint64_t filled = 0;
    while (filled < total) {
      Streams<ProcessTraits> streams;
      for (int i = 0; i < kParallel && filled < total; ++i) {
        const uint64_t count = std::min(kPerSession, total - filled);
        const uint64_t offset = kFirstKey + filled;
        StreamOptions options;
        options.window = window_;
        options.max_units = count;
        options.key = [offset](uint64_t id) { return offset + id; };
        streams.push_back(std::make_unique<PipelinedStream<ProcessTraits>>(
            options, ProcessStarter(stub)));
        filled += count;
      }
      absl::Status status = AwaitStreams(streams, "cache fill");
      if (!status.ok()) return status;
    }
    const absl::Duration fill_time = absl::Now() - start;
    absl::SleepFor(absl::Milliseconds(200));
    absl::StatusOr<v1::Stats> after = GetStats(*stub);
    if (!after.ok()) return after.status();
    absl::StatusOr<int64_t> rss_after = work->service.process->ResidentBytes();
    if (!rss_after.ok()) return rss_after.status();

    const uint64_t added = after->cache_entries() - before->cache_entries();
    if (added != total) {
      return absl::InternalError(absl::StrCat(
          "memory case: cache_entries grew by ", added, ", not by ", total));
    }
    const double per_entry = static_cast<double>(*rss_after - *rss_before) /
                             static_cast<double>(total);
    report_.Add(Figure("8 memory",
                       absl::StrCat("VmRSS per cached entry, ", Grouped(total),
                                    " keys cached through Process"),
                       absl::StrFormat("%.1f bytes", per_entry))
                    .Goal("<= 80 bytes", per_entry <= 80));
    report_.Note(absl::StrCat(
        "VmRSS ", Grouped(*rss_before / 1024.0), " kB before, ",
        Grouped(*rss_after / 1024.0), " kB after; cache_entries ",
        Grouped(after->cache_entries()), "; filled at ",
        PerSecond(total / absl::ToDoubleSeconds(fill_time), "keys"), ", ",
        kParallel, " sessions at a time of ", Grouped(kPerSession), " units"));
    return absl::OkStatus();
  }

  // Constant after construction.
  const bool quick_;
  const int window_;
  const bool verbose_;
  const std::vector<uint64_t> cpu_rounds_;  // Case 3's N, one run each.
  absl::Duration measure_;
  absl::Duration warmup_;
  int rounds_;

  Report report_;

  // The echo server (one of the two) and a stub to it.
  ServiceProcess echo_child_;
  InProcessEcho in_process_echo_;
  std::string echo_address_;
  std::shared_ptr<grpc::Channel> echo_channel_;
  std::unique_ptr<Echo::Stub> echo_stub_;
};

// The --serve_* modes: serves `services` (with health and reflection, through
// the same pieces::RunServer as the services) on --port until SIGTERM or
// SIGINT, then lets calls drain for --grace_period. Prints "NAME listening on
// 0.0.0.0:PORT". Returns main's exit code.
int Serve(const std::string& name, const std::vector<grpc::Service*>& services) {
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
  // Started by a run as its servers (Bench::StartServer).
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
    if (!absl::SimpleAtoi(text, &number) || number < 1 || number > 8) {
      absl::FPrintF(stderr,
                    "pieces_bench: --cases takes numbers 1 to 8, not '%s'\n",
                    text);
      return 2;
    }
    cases.push_back(number);
  }

  absl::StatusOr<std::vector<uint64_t>> cpu_rounds =
      pieces::bench::CpuRounds();
  if (!cpu_rounds.ok()) {
    absl::FPrintF(stderr, "pieces_bench: %s\n", cpu_rounds.status().message());
    return 2;
  }

  pieces::bench::Bench bench(*std::move(cpu_rounds));
  bench.PrintHeader();
  int errors = 0;
  for (int number : cases) {
    absl::Status status = bench.Run(number);
    if (!status.ok()) {
      ++errors;
      absl::FPrintF(stderr, "pieces_bench: case %d could not be measured: %s\n",
                    number, status.message());
    }
  }
  bench.report().PrintTable();
  if (errors > 0) {
    absl::FPrintF(stderr, "pieces_bench: %d case(s) failed to run\n", errors);
    return 1;
  }
  return 0;
}
