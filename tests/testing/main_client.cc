#include "tests/testing/main_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pieces::testing {

std::unique_ptr<v1::MainService::Stub> NewMainStub(const std::string& address) {
  return v1::MainService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

v1::RunRequest RunRequestOf(const std::vector<uint64_t>& keys) {
  v1::RunRequest request;
  for (uint64_t key : keys) request.add_keys(key);
  return request;
}

grpc::Status CallRun(v1::MainService::Stub& stub, const v1::RunRequest& request,
                     v1::RunReply* reply, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(timeout));
  return stub.Run(&context, request, reply);
}

grpc::Status CallRun(v1::MainService::Stub& stub,
                     const std::vector<uint64_t>& keys, v1::RunReply* reply,
                     absl::Duration timeout) {
  return CallRun(stub, RunRequestOf(keys), reply, timeout);
}

absl::StatusOr<v1::ClusterStats> AwaitClusterStats(
    v1::MainService::Stub& stub,
    const std::function<bool(const v1::ClusterStats&)>& done,
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ClusterStats stats;
    const grpc::Status status =
        stub.GetClusterStats(&context, v1::GetClusterStatsRequest(), &stats);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    if (done(stats)) return stats;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("cluster stats never reached the expected state; "
                       "last: ",
                       stats.ShortDebugString()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace pieces::testing
