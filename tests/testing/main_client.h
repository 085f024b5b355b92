// Synchronous helpers for tests that call a running main_service.
#ifndef PIECES_TESTS_TESTING_MAIN_CLIENT_H_
#define PIECES_TESTS_TESTING_MAIN_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/main_service.grpc.pb.h"

namespace pieces::testing {

// A plaintext stub for main_service at `address`.
std::unique_ptr<v1::MainService::Stub> NewMainStub(const std::string& address);

// A RunRequest for `keys`, in order.
v1::RunRequest RunRequestOf(const std::vector<uint64_t>& keys);

// Calls Run with a deadline `timeout` from now.
grpc::Status CallRun(v1::MainService::Stub& stub, const v1::RunRequest& request,
                     v1::RunReply* reply,
                     absl::Duration timeout = absl::Seconds(30));
grpc::Status CallRun(v1::MainService::Stub& stub,
                     const std::vector<uint64_t>& keys, v1::RunReply* reply,
                     absl::Duration timeout = absl::Seconds(30));

// Polls GetClusterStats every 10 ms until `done` accepts it (returned), a
// call fails (its status), or `timeout` passes (DEADLINE_EXCEEDED with the
// last reply).
absl::StatusOr<v1::ClusterStats> AwaitClusterStats(
    v1::MainService::Stub& stub,
    const std::function<bool(const v1::ClusterStats&)>& done,
    absl::Duration timeout = absl::Seconds(30));

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_MAIN_CLIENT_H_
