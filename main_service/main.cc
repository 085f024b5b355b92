// main_service: serves pieces.v1.MainService, the front door. See README.md.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

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
#include "main_service/main_service.h"

ABSL_FLAG(std::string, work_address, "localhost:50052",
          "Where the work_service replicas listen: host:port[,host:port...]; "
          "each host may be a DNS name with several addresses (a scaled "
          "Compose service, Swarm tasks.NAME, a Kubernetes headless Service), "
          "one replica per address");
ABSL_FLAG(absl::Duration, resolve_interval, absl::Seconds(5),
          "How often --work_address is resolved again, to follow replicas "
          "that come and go (also at once after a replica fails)");
ABSL_FLAG(uint32_t, work_sessions, 1,
          "The most Process sessions kept open to each work_service replica, "
          "shared by every call; another opens only while every open one is "
          "writing or full");
ABSL_FLAG(uint32_t, work_window, 512,
          "The most units unanswered on one session to work_service; keep it "
          "below work_service's --max_in_flight, so that it always reads");
ABSL_FLAG(uint32_t, work_call_share, 256,
          "The most units of one call unanswered on one replica: what keeps a "
          "big call from holding back the others on a shared session");
ABSL_FLAG(absl::Duration, work_keepalive_time, absl::Seconds(1),
          "How often main_service pings each work_service replica over "
          "HTTP/2, with or without calls open; at least 500ms (what "
          "work_service accepts)");
ABSL_FLAG(absl::Duration, work_keepalive_timeout, absl::Seconds(2),
          "A replica that does not answer a ping within this long is taken "
          "for gone: its sessions fail, their unanswered units go to the "
          "other replicas, and it is not routed to until it answers again");
ABSL_FLAG(uint64_t, max_keys, 100000,
          "The most keys one Run or RunStream request may carry");
ABSL_FLAG(uint64_t, max_keys_in_progress, 1000000,
          "The most keys of calls in progress, over every call: a call whose "
          "keys do not fit is refused with RESOURCE_EXHAUSTED, which bounds "
          "main_service's memory whatever its callers do; 0 means no bound");

ABSL_FLAG(uint32_t, metrics_port, 9451,
          "Serve Prometheus metrics at http://0.0.0.0:PORT/metrics; 0: off");
ABSL_FLAG(std::string, log_format, "text",
          "The event log on stderr: text, or json (one object per line)");
ABSL_FLAG(std::string, log_calls, "failed",
          "Which Run and RunStream calls get a call_end line in the event "
          "log: all (an access log: a line per call, a write to stderr "
          "each), failed (those that end with a status other than OK), or "
          "none; the metrics count every call either way");

int main(int argc, char** argv) {
  pieces::BlockTerminationSignals();
  pieces::SkipMutexDeadlockDetection();
  absl::SetProgramUsageMessage(
      "The front door: hands each request's keys to work_service.\n"
      "Usage: main_service [--port=50051] [--work_address=localhost:50052]\n"
      "                    [--tls_cert=FILE --tls_key=FILE [--tls_ca=FILE]]");
  pieces::ListServerFlagsInHelp("main_service/main.cc");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status =
          pieces::InitEventLog("main_service", absl::GetFlag(FLAGS_log_format));
      !status.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n", status.message());
    return 2;
  }

  // --port, --grace_period, --max_message_bytes, --tls_*, --reflection,
  // --keepalive_*.
  absl::StatusOr<pieces::ServerFlags> flags =
      pieces::ReadServerFlags("main_service", 50051);
  if (!flags.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n", flags.status().message());
    return 2;
  }
  const pieces::TlsFiles& tls = flags->tls;
  // Bad TLS flags or files stop the program here, before it serves anything.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials =
      pieces::MakeServerCredentials(tls);
  if (!server_credentials.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n",
                  server_credentials.status().message());
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> work_credentials =
      pieces::MakeChannelCredentials(tls);
  if (!work_credentials.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n",
                  work_credentials.status().message());
    return 2;
  }

  absl::StatusOr<pieces::MainServiceImpl::CallLog> log_calls =
      pieces::MainServiceImpl::ParseCallLog(absl::GetFlag(FLAGS_log_calls));
  if (!log_calls.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n", log_calls.status().message());
    return 2;
  }

  pieces::MainServiceImpl::Options options;
  options.log_calls = *log_calls;
  // At the end of the drain, the shared sessions to the replicas get as long
  // again to send Exit and hear Exited.
  options.close_timeout = flags->server.grace_period;
  options.work_address = absl::GetFlag(FLAGS_work_address);
  options.resolve_interval = absl::GetFlag(FLAGS_resolve_interval);
  options.max_keys = absl::GetFlag(FLAGS_max_keys);
  options.max_keys_in_progress = absl::GetFlag(FLAGS_max_keys_in_progress);
  options.work_credentials = *work_credentials;
  options.link.sessions = absl::GetFlag(FLAGS_work_sessions);
  options.link.window = absl::GetFlag(FLAGS_work_window);
  options.link.per_owner = absl::GetFlag(FLAGS_work_call_share);
  options.work_keepalive_time = absl::GetFlag(FLAGS_work_keepalive_time);
  options.work_keepalive_timeout = absl::GetFlag(FLAGS_work_keepalive_timeout);
  if (options.link.sessions == 0 || options.link.window == 0 ||
      options.link.per_owner == 0) {
    absl::FPrintF(stderr,
                  "main_service: --work_sessions, --work_window and "
                  "--work_call_share must be at least 1\n");
    return 2;
  }
  if (options.work_keepalive_time < pieces::kMinClientPingInterval ||
      options.work_keepalive_time == absl::InfiniteDuration() ||
      options.work_keepalive_timeout <= absl::ZeroDuration()) {
    absl::FPrintF(stderr,
                  "main_service: --work_keepalive_time must be finite and at "
                  "least %s (work_service refuses pings more often), and "
                  "--work_keepalive_timeout more than 0\n",
                  absl::FormatDuration(pieces::kMinClientPingInterval));
    return 2;
  }
  if (options.max_keys_in_progress != 0 &&
      options.max_keys_in_progress < options.max_keys) {
    absl::FPrintF(stderr,
                  "main_service: --max_keys_in_progress (%d) is less than "
                  "--max_keys (%d): a request of --max_keys keys could never "
                  "run\n",
                  options.max_keys_in_progress, options.max_keys);
    return 2;
  }
  const uint32_t metrics_port = absl::GetFlag(FLAGS_metrics_port);
  const char* work_security =
      tls.ca.empty() ? "plaintext" : "TLS with client certificate";
  pieces::LogEvent(
      "start",
      absl::StrFormat("main_service: work_address=%s (%s) work_sessions=%d "
                      "work_window=%d work_call_share=%d work_keepalive=%s+%s "
                      "max_keys=%d max_keys_in_progress=%d serving=%s "
                      "reflection=%s metrics_port=%d log_calls=%s",
                      options.work_address, work_security,
                      options.link.sessions, options.link.window,
                      options.link.per_owner,
                      absl::FormatDuration(options.work_keepalive_time),
                      absl::FormatDuration(options.work_keepalive_timeout),
                      options.max_keys, options.max_keys_in_progress,
                      pieces::DescribeServerSecurity(tls),
                      flags->server.reflection ? "on" : "off", metrics_port,
                      absl::GetFlag(FLAGS_log_calls)),
      {{"work_address", options.work_address},
       {"work_security", work_security},
       {"resolve_interval_s", absl::ToDoubleSeconds(options.resolve_interval)},
       {"work_sessions", uint64_t{options.link.sessions}},
       {"work_window", uint64_t{options.link.window}},
       {"work_call_share", uint64_t{options.link.per_owner}},
       {"work_keepalive_time_s",
        absl::ToDoubleSeconds(options.work_keepalive_time)},
       {"work_keepalive_timeout_s",
        absl::ToDoubleSeconds(options.work_keepalive_timeout)},
       {"max_keys", uint64_t{options.max_keys}},
       {"serving", pieces::DescribeServerSecurity(tls)},
       {"reflection", flags->server.reflection},
       {"metrics_port", uint64_t{metrics_port}},
       {"log_calls", absl::GetFlag(FLAGS_log_calls)},
       {"grace_period_s", absl::ToDoubleSeconds(flags->server.grace_period)}});
  absl::StatusOr<std::unique_ptr<pieces::MainServiceImpl>> service =
      pieces::MainServiceImpl::Create(options);
  if (!service.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n", service.status().message());
    return 2;
  }

  // Declared after the service: stops serving its metrics before it goes.
  std::unique_ptr<pieces::MetricsServer> metrics;
  if (metrics_port != 0) {
    absl::StatusOr<std::unique_ptr<pieces::MetricsServer>> started =
        pieces::MetricsServer::Start(static_cast<int>(metrics_port),
                                     {(*service)->metrics()});
    if (started.ok()) {
      metrics = *std::move(started);
      pieces::LogEvent(
          "metrics",
          absl::StrFormat("main_service: metrics on 0.0.0.0:%d/metrics",
                          metrics->port()),
          {{"port", metrics->port()}});
    } else {
      // gRPC is what clients need: serve it anyway (Prometheus shows the
      // target down).
      pieces::LogEvent(
          "metrics_failed",
          absl::StrCat("main_service: warning: ", started.status().message()),
          {{"error", std::string(started.status().message())}},
          pieces::LogLevel::kWarning);
    }
  }

  pieces::ServerOptions& server = flags->server;
  server.credentials = *server_credentials;
  // Every method is served on the service's own queue; once every call has
  // ended, its StopServing sends Exit on each shared session and awaits the
  // replicas' Exited.
  server.async_services = {service->get()};
  absl::Status status = pieces::RunServer(server, {service->get()});
  if (!status.ok()) {
    // The message names the program already.
    absl::FPrintF(stderr, "%s\n", status.message());
    return 1;
  }
  return 0;
}
