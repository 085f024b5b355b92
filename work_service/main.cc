// work_service: serves pieces.v1.WorkService. See README.md.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/logging/event_log.h"
#include "common/metrics/metrics_server.h"
#include "common/server_flags.h"
#include "common/server_runner.h"
#include "common/tls.h"
#include "work_service/work_function.h"
#include "work_service/work_service.h"

ABSL_FLAG(uint32_t, threads, 0,
          "Threads of the work pool; 0 means one per core");
ABSL_FLAG(std::string, work, "echo",
          "The work run for each key: echo, sleep:DURATION, cpu:N or "
          "fail_odd:DURATION");
ABSL_FLAG(uint64_t, max_in_flight, 1024,
          "Per-session cap on units received and not yet answered; the session "
          "stops reading from the client while it is reached");
ABSL_FLAG(uint64_t, cache_capacity, 1000000,
          "The most keys the cache keeps; the least recently used go first. 0: "
          "no bound");
ABSL_FLAG(
    uint64_t, max_sessions, 1000,
    "The most Process sessions open at once; more are refused. 0: no limit");

ABSL_FLAG(uint32_t, metrics_port, 9452,
          "Serve Prometheus metrics at http://0.0.0.0:PORT/metrics; 0: off");
ABSL_FLAG(std::string, log_format, "text",
          "The event log on stderr: text, or json (one object per line)");
ABSL_FLAG(uint32_t, piece, 0,
          "Run stage N (1-5) of the article the project comes from, defects "
          "included, instead of the service's own design (0). 1-4 are there "
          "to show a defect, not to be used: 1 one event loop (no "
          "parallelism), 2 a pool (Exited at once, results lost), 3 a pool "
          "and a drain (no cache), 4 a racy cache (a key may be computed "
          "twice), 5 a keyed condvar (one pool thread blocked per waiter on "
          "a hot key). See README.md, \"The five pieces, measured\"");

int main(int argc, char** argv) {
  pieces::BlockTerminationSignals();
  pieces::SkipMutexDeadlockDetection();
  absl::SetProgramUsageMessage(
      "Runs keyed work on a thread pool with a shared cache.\n"
      "Usage: work_service [--port=50052] [--threads=N] [--work=echo]\n"
      "                    [--piece=N]  (stage N of the article; 1-4 are there "
      "to\n"
      "                    show a defect, see --help=piece)\n"
      "                    [--tls_cert=FILE --tls_key=FILE [--tls_ca=FILE]]");
  pieces::ListServerFlagsInHelp("work_service/main.cc");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status =
          pieces::InitEventLog("work_service", absl::GetFlag(FLAGS_log_format));
      !status.ok()) {
    absl::FPrintF(stderr, "work_service: %s\n", status.message());
    return 2;
  }

  // --port, --grace_period, --max_message_bytes, --tls_*, --reflection,
  // --keepalive_*.
  absl::StatusOr<pieces::ServerFlags> flags =
      pieces::ReadServerFlags("work_service", 50052);
  if (!flags.ok()) {
    absl::FPrintF(stderr, "work_service: %s\n", flags.status().message());
    return 2;
  }
  const pieces::TlsFiles& tls = flags->tls;
  // Bad TLS flags or files stop the program here, before it serves anything.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      pieces::MakeServerCredentials(tls);
  if (!credentials.ok()) {
    absl::FPrintF(stderr, "work_service: %s\n", credentials.status().message());
    return 2;
  }

  absl::StatusOr<std::unique_ptr<pieces::WorkFunction>> work =
      pieces::MakeWorkFunction(absl::GetFlag(FLAGS_work));
  if (!work.ok()) {
    absl::FPrintF(stderr, "work_service: %s\n", work.status().message());
    return 2;
  }
  if (absl::GetFlag(FLAGS_max_in_flight) == 0) {
    absl::FPrintF(stderr, "work_service: --max_in_flight must be at least 1\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_piece) > pieces::kLastPiece) {
    absl::FPrintF(stderr,
                  "work_service: --piece=%d: there are stages 1 to %d (0 for "
                  "the service's own design)\n",
                  absl::GetFlag(FLAGS_piece), pieces::kLastPiece);
    return 2;
  }
  pieces::WorkServiceImpl::Options options;
  options.piece = static_cast<int>(absl::GetFlag(FLAGS_piece));
  options.threads = absl::GetFlag(FLAGS_threads);
  if (options.threads == 0)
    options.threads = std::thread::hardware_concurrency();
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.cache_capacity = absl::GetFlag(FLAGS_cache_capacity);
  options.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  const uint32_t metrics_port = absl::GetFlag(FLAGS_metrics_port);
  pieces::LogEvent(
      "start",
      absl::StrFormat("work_service: work=%s threads=%d max_in_flight=%d "
                      "cache_capacity=%d max_sessions=%d piece=%d serving=%s "
                      "reflection=%s metrics_port=%d",
                      (*work)->Describe(), options.threads,
                      options.max_in_flight, options.cache_capacity,
                      options.max_sessions, options.piece,
                      pieces::DescribeServerSecurity(tls),
                      flags->server.reflection ? "on" : "off", metrics_port),
      {{"work", (*work)->Describe()},
       {"threads", uint64_t{options.threads}},
       {"max_in_flight", uint64_t{options.max_in_flight}},
       {"cache_capacity", uint64_t{options.cache_capacity}},
       {"max_sessions", uint64_t{options.max_sessions}},
       {"piece", uint64_t(options.piece)},
       {"serving", pieces::DescribeServerSecurity(tls)},
       {"reflection", flags->server.reflection},
       {"metrics_port", uint64_t{metrics_port}},
       {"grace_period_s", absl::ToDoubleSeconds(flags->server.grace_period)}});

  pieces::WorkServiceImpl service(*std::move(work), options);
  // Declared after the service: stops serving its metrics before it goes.
  std::unique_ptr<pieces::MetricsServer> metrics;
  if (metrics_port != 0) {
    absl::StatusOr<std::unique_ptr<pieces::MetricsServer>> started =
        pieces::MetricsServer::Start(static_cast<int>(metrics_port),
                                     {service.metrics()});
    if (started.ok()) {
      metrics = *std::move(started);
      pieces::LogEvent(
          "metrics",
          absl::StrFormat("work_service: metrics on 0.0.0.0:%d/metrics",
                          metrics->port()),
          {{"port", metrics->port()}});
    } else {
      // gRPC is what clients need: serve it anyway (Prometheus shows the
      // target down).
      pieces::LogEvent(
          "metrics_failed",
          absl::StrCat("work_service: warning: ", started.status().message()),
          {{"error", std::string(started.status().message())}},
          pieces::LogLevel::kWarning);
    }
  }
  pieces::ServerOptions& server = flags->server;
  server.credentials = *credentials;
  // Open sessions learn at once that the service stops (Draining), so that
  // long-lived ones are ended by their clients within the grace period.
  server.on_stop = [&service] { service.Drain(); };
  // Process is served on the service's own completion queue.
  server.async_services = {&service};
  absl::Status status = pieces::RunServer(server, {&service});
  if (!status.ok()) {
    // The message names the program already.
    absl::FPrintF(stderr, "%s\n", status.message());
    return 1;
  }
  return 0;
}
