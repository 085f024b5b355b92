// Synchronous helpers for tests that talk to a running work_service.
#ifndef PIECES_TESTS_TESTING_WORK_CLIENT_H_
#define PIECES_TESTS_TESTING_WORK_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/work_service.grpc.pb.h"

namespace pieces::testing {

// A stub on a new channel of its own (a new connection).
std::unique_ptr<v1::WorkService::Stub> NewWorkStub(const std::string& address);

v1::WorkMsg WorkMessage(uint64_t id, uint64_t key);
v1::WorkMsg ExitMessage();

// Every message one Process session sent back, and how it ended.
struct SessionOutcome {
  std::vector<v1::ResultMsg> messages;
  grpc::Status status;

  // The results, whether they came alone or in batches.
  std::vector<v1::Result> results() const;
  // How many results have `performed`.
  int CountPerformed(v1::Performed performed) const;
};

// Runs one session: writes `messages`, half-closes if `half_close`, then reads
// until the service ends the call.
SessionOutcome RunSession(v1::WorkService::Stub& stub,
                          const std::vector<v1::WorkMsg>& messages,
                          bool half_close = false,
                          absl::Duration timeout = absl::Seconds(60));

// A session of Work{id = i, key = keys[i]} for every key, then Exit.
SessionOutcome RunKeys(v1::WorkService::Stub& stub,
                       const std::vector<uint64_t>& keys);

absl::StatusOr<v1::Stats> GetStats(v1::WorkService::Stub& stub);

// Asks for the stats until `done` holds for them (the service offers no
// event to wait for), or `timeout` passes; returns the last stats seen.
absl::StatusOr<v1::Stats> AwaitStats(
    v1::WorkService::Stub& stub,
    const std::function<bool(const v1::Stats&)>& done,
    absl::Duration timeout = absl::Seconds(10));

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_WORK_CLIENT_H_
