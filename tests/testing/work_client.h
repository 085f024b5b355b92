// Synchronous helpers for tests that talk to a running work_service.
#ifndef PIECES_TESTS_TESTING_WORK_CLIENT_H_
#define PIECES_TESTS_TESTING_WORK_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
v1::WorkMsg CancelMessage(const std::vector<uint64_t>& ids);

// Every message one Process session sent back, and how it ended.
struct SessionOutcome {
  std::vector<v1::ResultMsg> messages;
  grpc::Status status;

  // The results, whether they came alone or in batches.
  std::vector<v1::Result> results() const;
  // How many results have `performed`.
  int CountPerformed(v1::Performed performed) const;
  // How many Draining notices came (at most one, when the service stopped).
  int CountDraining() const;
};

// A Process session driven step by step, for tests that read a message
// before they write the next one. The call's deadline (`timeout`) bounds
// every read: a message that never comes fails the test instead of hanging
// it. Thread safety: one thread at a time.
class SessionStream {
 public:
  explicit SessionStream(v1::WorkService::Stub& stub,
                         absl::Duration timeout = absl::Seconds(60));
  SessionStream(const SessionStream&) = delete;
  SessionStream& operator=(const SessionStream&) = delete;
  // Cancels the call if it was not finished.
  ~SessionStream();

  // False once the call has ended.
  bool Write(const v1::WorkMsg& message);
  // Half-closes (which the service takes as Exit).
  bool WritesDone();
  // The next message; nullopt once the call has ended.
  std::optional<v1::ResultMsg> Read();
  // Reads until the service ends the call, then finishes it: the messages
  // read here (not those read before with Read) and the call's status.
  SessionOutcome Finish();

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkMsg, v1::ResultMsg>> stream_;
  bool finished_ = false;
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
