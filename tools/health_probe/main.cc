// health_probe: one grpc.health.v1.Health/Check call.
// Exit 0 only when the server answers SERVING; otherwise print one line saying
// why and exit 1 (the code Docker's HEALTHCHECK reads as "unhealthy").
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, addr, "localhost:50051",
          "host:port of the gRPC server to check");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(3),
          "deadline of the Check call, e.g. 500ms, 3s");
ABSL_FLAG(std::string, service, "",
          "service name to check; empty means the whole server");

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr int kHealthy = 0;
constexpr int kUnhealthy = 1;

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Calls grpc.health.v1.Health/Check; exits 0 only if the answer is "
      "SERVING.\n"
      "Usage: health_probe [--addr=host:port] [--timeout=3s] [--service=name]");
  absl::ParseCommandLine(argc, argv);

  const std::string addr = absl::GetFlag(FLAGS_addr);
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  const std::string service = absl::GetFlag(FLAGS_service);
  if (timeout <= absl::ZeroDuration()) {
    std::cerr << "health_probe: --timeout must be positive\n";
    return kUnhealthy;
  }

  auto stub = Health::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(timeout));

  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  const grpc::Status st = stub->Check(&ctx, req, &resp);

  const std::string what =
      service.empty() ? addr : addr + " service \"" + service + "\"";
  if (!st.ok()) {
    // grpc::StatusCode and absl::StatusCode share their numbering.
    std::cerr << "health_probe: " << what << ": check failed: "
              << absl::StatusCodeToString(
                     static_cast<absl::StatusCode>(st.error_code()))
              << (st.error_message().empty() ? "" : ": " + st.error_message())
              << "\n";
    return kUnhealthy;
  }
  const std::string status =
      HealthCheckResponse::ServingStatus_Name(resp.status());
  if (resp.status() != HealthCheckResponse::SERVING) {
    std::cerr << "health_probe: " << what << ": status "
              << (status.empty() ? std::to_string(resp.status()) : status)
              << "\n";
    return kUnhealthy;
  }
  std::cout << "health_probe: " << what << ": SERVING\n";
  return kHealthy;
}
