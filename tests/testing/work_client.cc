#include "tests/testing/work_client.h"

#include <atomic>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pieces::testing {

std::unique_ptr<v1::WorkService::Stub> NewWorkStub(const std::string& address) {
  grpc::ChannelArguments args;
  // A distinct argument keeps gRPC from sharing one connection between stubs.
  static std::atomic<int> next_channel{0};
  args.SetInt("pieces.test_channel", next_channel.fetch_add(1));
  return v1::WorkService::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

v1::WorkMsg WorkMessage(uint64_t id, uint64_t key) {
  v1::WorkMsg message;
  message.mutable_work()->set_id(id);
  message.mutable_work()->set_key(key);
  return message;
}

v1::WorkMsg ExitMessage() {
  v1::WorkMsg message;
  message.mutable_exit();
  return message;
}

v1::WorkMsg CancelMessage(const std::vector<uint64_t>& ids) {
  v1::WorkMsg message;
  for (uint64_t id : ids) message.mutable_cancel()->add_ids(id);
  message.mutable_cancel();  // Set even when `ids` is empty.
  return message;
}

std::vector<v1::Result> SessionOutcome::results() const {
  std::vector<v1::Result> results;
  for (const v1::ResultMsg& message : messages) {
    if (message.has_result()) results.push_back(message.result());
    for (const v1::Result& result : message.batch().results()) {
      results.push_back(result);
    }
  }
  return results;
}

int SessionOutcome::CountPerformed(v1::Performed performed) const {
  int count = 0;
  for (const v1::Result& result : results()) {
    count += result.performed() == performed ? 1 : 0;
  }
  return count;
}

int SessionOutcome::CountDraining() const {
  int count = 0;
  for (const v1::ResultMsg& message : messages) {
    count += message.has_draining() ? 1 : 0;
  }
  return count;
}

SessionStream::SessionStream(v1::WorkService::Stub& stub,
                             absl::Duration timeout) {
  context_.set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoNanoseconds(timeout));
  stream_ = stub.Process(&context_);
}

SessionStream::~SessionStream() {
  if (finished_) return;
  context_.TryCancel();
  v1::ResultMsg ignored;
  while (stream_->Read(&ignored)) {
  }
  stream_->Finish().IgnoreError();
}

bool SessionStream::Write(const v1::WorkMsg& message) {
  return stream_->Write(message);
}

bool SessionStream::WritesDone() { return stream_->WritesDone(); }

std::optional<v1::ResultMsg> SessionStream::Read() {
  v1::ResultMsg message;
  if (!stream_->Read(&message)) return std::nullopt;
  return message;
}

SessionOutcome SessionStream::Finish() {
  SessionOutcome outcome;
  v1::ResultMsg message;
  while (stream_->Read(&message)) outcome.messages.push_back(message);
  outcome.status = stream_->Finish();
  finished_ = true;
  return outcome;
}

SessionOutcome RunSession(v1::WorkService::Stub& stub,
                          const std::vector<v1::WorkMsg>& messages,
                          bool half_close, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(timeout));
  auto stream = stub.Process(&context);
  for (const v1::WorkMsg& message : messages) {
    if (!stream->Write(message)) break;  // The call ended; Finish says why.
  }
  if (half_close) stream->WritesDone();
  SessionOutcome outcome;
  v1::ResultMsg message;
  while (stream->Read(&message)) outcome.messages.push_back(message);
  outcome.status = stream->Finish();
  return outcome;
}

SessionOutcome RunKeys(v1::WorkService::Stub& stub,
                       const std::vector<uint64_t>& keys) {
  std::vector<v1::WorkMsg> messages;
  for (size_t i = 0; i < keys.size(); ++i) {
    messages.push_back(WorkMessage(i, keys[i]));
  }
  messages.push_back(ExitMessage());
  return RunSession(stub, messages);
}

absl::StatusOr<v1::Stats> GetStats(v1::WorkService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  v1::Stats stats;
  grpc::Status status = stub.GetStats(&context, v1::GetStatsRequest(), &stats);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return stats;
}

absl::StatusOr<v1::Stats> AwaitStats(
    v1::WorkService::Stub& stub,
    const std::function<bool(const v1::Stats&)>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<v1::Stats> stats = GetStats(stub);
    if (!stats.ok() || done(*stats)) return stats;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("stats never reached the expected state; last: ",
                       stats->ShortDebugString()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace pieces::testing
