// run_loop: calls main_service's Run `--calls` times, one after another, each
// with the keys of `--keys` and a deadline, and exits 1 if any call fails.
// A fixed amount of work for instruction counts (scripts/profile-run.sh).
//
//   run_loop --target=localhost:50051 --calls=2000 --keys=1
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/main_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50051", "main_service address");
ABSL_FLAG(int32_t, calls, 1000, "Run calls to make, one at a time");
ABSL_FLAG(std::string, keys, "1", "The keys of each Run, comma-separated");
ABSL_FLAG(int32_t, deadline_ms, 30000, "Each call's deadline");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  pieces::v1::RunRequest request;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_keys), ',', absl::SkipEmpty())) {
    uint64_t key;
    if (!absl::SimpleAtoi(part, &key)) {
      std::fprintf(stderr, "run_loop: --keys: '%s' is not a key\n",
                   std::string(part).c_str());
      return 2;
    }
    request.add_keys(key);
  }
  auto stub = pieces::v1::MainService::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  const int calls = absl::GetFlag(FLAGS_calls);
  for (int i = 0; i < calls; ++i) {
    grpc::ClientContext context;
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(absl::GetFlag(FLAGS_deadline_ms)));
    pieces::v1::RunReply reply;
    grpc::Status status = stub->Run(&context, request, &reply);
    if (!status.ok() ||
        reply.completed() != static_cast<uint64_t>(request.keys_size())) {
      std::fprintf(stderr, "run_loop: call %d: %d %s\n", i,
                   static_cast<int>(status.error_code()),
                   status.error_message().c_str());
      return 1;
    }
  }
  std::printf("run_loop: %d calls OK\n", calls);
  return 0;
}
