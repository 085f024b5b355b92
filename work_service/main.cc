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
#include "common/server_runner.h"
#include "common/tls.h"
#include "work_service/work_function.h"
#include "work_service/work_service.h"

ABSL_FLAG(int32_t, port, 50052,
          "TCP port to listen on, on all interfaces; 0 picks a free one");
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
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "The largest message accepted; larger ones end the call with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(
    absl::Duration, grace_period, absl::Seconds(10),
    "After SIGTERM/SIGINT, how long sessions in progress may take to finish");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of this server; with --tls_key it serves TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle: clients (main_service) must present a certificate "
          "signed by it (mutual TLS)");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection, which lets any client list and "
          "describe the services (grpcurl list); false switches it off");

int main(int argc, char** argv) {
  pieces::BlockTerminationSignals();
  pieces::SkipMutexDeadlockDetection();
  absl::SetProgramUsageMessage(
      "Runs keyed work on a thread pool with a shared cache.\n"
      "Usage: work_service [--port=50052] [--threads=N] [--work=echo]\n"
      "                    [--tls_cert=FILE --tls_key=FILE [--tls_ca=FILE]]");
  absl::ParseCommandLine(argc, argv);

  // Bad TLS flags or files stop the program here, before it serves anything.
  const pieces::TlsFiles tls = {absl::GetFlag(FLAGS_tls_cert),
                                absl::GetFlag(FLAGS_tls_key),
                                absl::GetFlag(FLAGS_tls_ca)};
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
  pieces::WorkServiceImpl::Options options;
  options.threads = absl::GetFlag(FLAGS_threads);
  if (options.threads == 0)
    options.threads = std::thread::hardware_concurrency();
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.cache_capacity = absl::GetFlag(FLAGS_cache_capacity);
  options.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  absl::FPrintF(stderr,
                "work_service: work=%s threads=%d max_in_flight=%d "
                "cache_capacity=%d max_sessions=%d serving=%s reflection=%s\n",
                (*work)->Describe(), options.threads, options.max_in_flight,
                options.cache_capacity, options.max_sessions,
                pieces::DescribeServerSecurity(tls),
                absl::GetFlag(FLAGS_reflection) ? "on" : "off");

  pieces::WorkServiceImpl service(*std::move(work), options);
  pieces::ServerOptions server;
  server.name = "work_service";
  server.port = absl::GetFlag(FLAGS_port);
  server.grace_period = absl::GetFlag(FLAGS_grace_period);
  server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  server.credentials = *credentials;
  server.reflection = absl::GetFlag(FLAGS_reflection);
  // Open sessions learn at once that the service stops (Draining), so that
  // long-lived ones are ended by their clients within the grace period.
  server.on_stop = [&service] { service.Drain(); };
  absl::Status status = pieces::RunServer(server, {&service});
  if (!status.ok()) {
    // The message names the program already.
    absl::FPrintF(stderr, "%s\n", status.message());
    return 1;
  }
  return 0;
}
