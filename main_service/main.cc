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
#include "common/server_runner.h"
#include "common/tls.h"
#include "main_service/main_service.h"

ABSL_FLAG(int32_t, port, 50051,
          "TCP port to listen on, on all interfaces; 0 picks a free one");
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
ABSL_FLAG(uint64_t, max_keys, 100000,
          "The most keys one Run or RunStream request may carry");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "The largest message accepted; larger ones end the call with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(
    absl::Duration, grace_period, absl::Seconds(10),
    "After SIGTERM/SIGINT, how long calls in progress may take to finish");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of this server; with --tls_key it serves TLS. "
          "With --tls_ca it is also the client certificate shown to "
          "work_service");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle: clients must present a certificate signed by it "
          "(mutual TLS), and work_service is reached over TLS, verified "
          "against it, with --tls_cert as client certificate");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection, which lets any client list and "
          "describe the services (grpcurl list); false switches it off");

int main(int argc, char** argv) {
  pieces::BlockTerminationSignals();
  pieces::SkipMutexDeadlockDetection();
  absl::SetProgramUsageMessage(
      "The front door: hands each request's keys to work_service.\n"
      "Usage: main_service [--port=50051] [--work_address=localhost:50052]\n"
      "                    [--tls_cert=FILE --tls_key=FILE [--tls_ca=FILE]]");
  absl::ParseCommandLine(argc, argv);

  // Bad TLS flags or files stop the program here, before it serves anything.
  const pieces::TlsFiles tls = {absl::GetFlag(FLAGS_tls_cert),
                                absl::GetFlag(FLAGS_tls_key),
                                absl::GetFlag(FLAGS_tls_ca)};
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

  pieces::MainServiceImpl::Options options;
  options.work_address = absl::GetFlag(FLAGS_work_address);
  options.resolve_interval = absl::GetFlag(FLAGS_resolve_interval);
  options.max_keys = absl::GetFlag(FLAGS_max_keys);
  options.work_credentials = *work_credentials;
  options.link.sessions = absl::GetFlag(FLAGS_work_sessions);
  options.link.window = absl::GetFlag(FLAGS_work_window);
  options.link.per_owner = absl::GetFlag(FLAGS_work_call_share);
  if (options.link.sessions == 0 || options.link.window == 0 ||
      options.link.per_owner == 0) {
    absl::FPrintF(stderr,
                  "main_service: --work_sessions, --work_window and "
                  "--work_call_share must be at least 1\n");
    return 2;
  }
  absl::FPrintF(stderr,
                "main_service: work_address=%s (%s) work_sessions=%d "
                "work_window=%d work_call_share=%d max_keys=%d serving=%s "
                "reflection=%s\n",
                options.work_address,
                tls.ca.empty() ? "plaintext" : "TLS with client certificate",
                options.link.sessions, options.link.window,
                options.link.per_owner, options.max_keys,
                pieces::DescribeServerSecurity(tls),
                absl::GetFlag(FLAGS_reflection) ? "on" : "off");
  absl::StatusOr<std::unique_ptr<pieces::MainServiceImpl>> service =
      pieces::MainServiceImpl::Create(options);
  if (!service.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n", service.status().message());
    return 2;
  }

  pieces::ServerOptions server;
  server.name = "main_service";
  server.port = absl::GetFlag(FLAGS_port);
  server.grace_period = absl::GetFlag(FLAGS_grace_period);
  server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  server.credentials = *server_credentials;
  server.reflection = absl::GetFlag(FLAGS_reflection);
  absl::Status status = pieces::RunServer(server, {service->get()});
  // Every call has ended: Exit on each shared session, and its Exited.
  (*service)->CloseLinks(absl::Now() + server.grace_period);
  if (!status.ok()) {
    // The message names the program already.
    absl::FPrintF(stderr, "%s\n", status.message());
    return 1;
  }
  return 0;
}
