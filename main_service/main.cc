// main_service: serves pieces.v1.MainService, the front door. See README.md.
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/server_runner.h"
#include "main_service/main_service.h"

ABSL_FLAG(int32_t, port, 50051, "TCP port to listen on, on all interfaces; 0 picks a free one");
ABSL_FLAG(std::string, work_address, "localhost:50052",
          "Where work_service listens, as a gRPC target (host:port)");
ABSL_FLAG(uint64_t, max_keys, 100000, "The most keys one Run or RunStream request may carry");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "The largest message accepted; larger ones end the call with RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(10),
          "After SIGTERM/SIGINT, how long calls in progress may take to finish");

int main(int argc, char** argv) {
  pieces::BlockTerminationSignals();
  absl::SetProgramUsageMessage(
      "The front door: hands each request's keys to work_service.\n"
      "Usage: main_service [--port=50051] [--work_address=localhost:50052]");
  absl::ParseCommandLine(argc, argv);

  pieces::MainServiceImpl::Options options;
  options.work_address = absl::GetFlag(FLAGS_work_address);
  options.max_keys = absl::GetFlag(FLAGS_max_keys);
  absl::FPrintF(stderr, "main_service: work_address=%s max_keys=%d\n",
                options.work_address, options.max_keys);
  pieces::MainServiceImpl service(options);

  pieces::ServerOptions server;
  server.name = "main_service";
  server.port = absl::GetFlag(FLAGS_port);
  server.grace_period = absl::GetFlag(FLAGS_grace_period);
  server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  absl::Status status = pieces::RunServer(server, {&service});
  if (!status.ok()) {
    absl::FPrintF(stderr, "main_service: %s\n", status.message());
    return 1;
  }
  return 0;
}
