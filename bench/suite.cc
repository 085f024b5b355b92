#include "suite.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace pieces::bench {
namespace {

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

std::string LoadAverage() {
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

}  // namespace

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
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

absl::StatusOr<v1::Stats> GetStats(v1::WorkService::Stub& stub) {
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

absl::Status RunSession(v1::WorkService::Stub* stub, uint64_t count,
                        std::function<uint64_t(uint64_t)> key, int window,
                        absl::string_view what) {
  StreamOptions options;
  options.window = window;
  options.max_units = count;
  options.key = std::move(key);
  Streams<ProcessTraits> streams;
  streams.push_back(OpenSession(stub, options));
  return AwaitStreams(streams, what);
}

absl::StatusOr<CacheMemory> MeasureCacheMemory(
    const Connected<v1::WorkService>& work, uint64_t keys, int window) {
  constexpr uint64_t kFirstKey = uint64_t{1} << 40;
  v1::WorkService::Stub* stub = work.stub.get();
  if (absl::Status s = RunSession(
          stub, 100, [](uint64_t id) { return id; }, window, "memory warm-up");
      !s.ok()) {
    return s;
  }
  absl::SleepFor(absl::Milliseconds(200));
  absl::StatusOr<v1::Stats> before = GetStats(*stub);
  if (!before.ok()) return before.status();
  CacheMemory memory;
  absl::StatusOr<int64_t> rss_before = work.service.process->ResidentBytes();
  if (!rss_before.ok()) return rss_before.status();
  memory.rss_before = *rss_before;

  const absl::Time start = absl::Now();
  uint64_t filled = 0;
  while (filled < keys) {
    Streams<ProcessTraits> streams;
    for (int i = 0; i < kCacheFillParallel && filled < keys; ++i) {
      const uint64_t count = std::min(kCacheFillSessionUnits, keys - filled);
      const uint64_t offset = kFirstKey + filled;
      StreamOptions options;
      options.window = window;
      options.max_units = count;
      options.key = [offset](uint64_t id) { return offset + id; };
      streams.push_back(OpenSession(stub, options));
      filled += count;
    }
    if (absl::Status s = AwaitStreams(streams, "cache fill"); !s.ok()) {
      return s;
    }
  }
  memory.fill_time = absl::Now() - start;
  absl::SleepFor(absl::Milliseconds(200));
  absl::StatusOr<v1::Stats> after = GetStats(*stub);
  if (!after.ok()) return after.status();
  absl::StatusOr<int64_t> rss_after = work.service.process->ResidentBytes();
  if (!rss_after.ok()) return rss_after.status();
  memory.rss_after = *rss_after;
  memory.entries = after->cache_entries();

  const uint64_t added = after->cache_entries() - before->cache_entries();
  if (added != keys) {
    return absl::InternalError(absl::StrCat("memory: cache_entries grew by ",
                                            added, ", not by ", keys));
  }
  memory.bytes_per_entry =
      static_cast<double>(memory.rss_after - memory.rss_before) /
      static_cast<double>(keys);
  return memory;
}

Suite::Suite(Settings settings) : settings_(std::move(settings)) {}

void Suite::NoteIfAny(const std::string& text) {
  if (!text.empty()) report_.Note(text);
}

void Suite::PrintHeader() const {
  absl::PrintF(
      "pieces_bench%s: %s, nproc %d, %s, load average %s\n"
      "  %s per measurement after %s of warm-up, median of %d rounds "
      "(ceilings alternate with their subjects); window %d units per "
      "stream; echo server: %s\n",
      settings_.quick ? " --quick" : "",
      absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone()),
      std::thread::hardware_concurrency(), CpuModel(), LoadAverage(),
      absl::FormatDuration(settings_.measure),
      absl::FormatDuration(settings_.warmup), settings_.rounds,
      settings_.window, settings_.echo_server);
  fflush(stdout);
}

absl::StatusOr<ServiceProcess> Suite::StartServer(
    const std::string& path, std::vector<std::string> flags) const {
  flags.push_back("--grace_period=1s");
  ChildProcessOptions options;
  options.mirror_output = settings_.verbose;
  // The servers are started from the main thread, which lives as long as
  // the benchmark.
  options.die_with_parent = true;
  // The drain of --grace_period, and a little more.
  options.stop_timeout = absl::Seconds(5);
  return StartService(path, std::move(flags), options);
}

absl::StatusOr<ServiceProcess> Suite::StartSelf(
    std::vector<std::string> flags) const {
  return StartServer(SelfPath(), std::move(flags));
}

absl::StatusOr<ServiceProcess> Suite::StartWork(
    std::vector<std::string> flags) const {
  return StartServer(PIECES_WORK_SERVICE_BIN, std::move(flags));
}

absl::StatusOr<Connected<v1::WorkService>> Suite::StartConnectedWork(
    std::vector<std::string> flags) const {
  return Connect<v1::WorkService>(StartWork(std::move(flags)));
}

absl::Status Suite::EnsureEcho() {
  if (!echo_address_.empty()) return absl::OkStatus();
  if (settings_.echo_server == "in_process") {
    absl::StatusOr<InProcessEcho> echo = StartInProcessEcho();
    if (!echo.ok()) return echo.status();
    in_process_echo_ = *std::move(echo);
    echo_address_ = absl::StrCat("localhost:", in_process_echo_.port);
  } else {
    absl::StatusOr<ServiceProcess> echo = StartSelf({"--serve_echo"});
    if (!echo.ok()) return echo.status();
    echo_child_ = *std::move(echo);
    echo_address_ = echo_child_.address;
  }
  echo_channel_ = NewChannel(echo_address_);
  echo_stub_ = Echo::NewStub(echo_channel_);
  return AwaitConnected(*echo_channel_, echo_address_);
}

std::vector<const ChildProcess*> Suite::EchoServers() const {
  if (echo_child_.process == nullptr) return {};
  return {echo_child_.process.get()};
}

MeasureFn Suite::EchoStreams(int streams, bool hinted) const {
  Echo::Stub* stub = echo_stub_.get();
  StreamOptions options;
  options.window = settings_.window;
  return StreamLoad<EchoTraits>(
      streams, EchoServers(), options,
      [stub, hinted](grpc::ClientContext* context, auto* reactor) {
        if (hinted) {
          stub->async()->StreamHinted(context, reactor);
        } else {
          stub->async()->Stream(context, reactor);
        }
      },
      hinted ? "hinted echo stream" : "echo stream");
}

MeasureFn Suite::ProcessSessions(const Connected<v1::WorkService>& work,
                                 int sessions,
                                 std::function<uint64_t(uint64_t)> key,
                                 std::string what) const {
  v1::WorkService::Stub* stub = work.stub.get();
  StreamOptions options;
  options.window = settings_.window;
  options.key = std::move(key);
  return StreamLoad<ProcessTraits>(sessions, {work.service.process.get()},
                                   options, ProcessStarter(stub),
                                   std::move(what));
}

absl::StatusOr<Sample> Suite::MeasureUnary(
    int callers, const std::vector<const ChildProcess*>& servers,
    const UnaryCallFn& call, absl::string_view what) const {
  return pieces::bench::MeasureUnary(callers, settings_.warmup,
                                     settings_.measure, servers, call, what);
}

}  // namespace pieces::bench
