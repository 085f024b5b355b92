// Malformed and hostile input, against the real binaries: each case is
// answered by the server (with its own message, in its stats, or by closing
// the connection), within a bound, and both services answer normal requests
// afterwards.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CancelMessage;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::GetStats;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunKeys;
using ::pieces::testing::RunSession;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::StartMainService;
using ::pieces::testing::StartWorkService;
using ::pieces::testing::WorkMessage;
using ::testing::HasSubstr;

// How long any one case may take before the test calls it a hang; each takes
// well under a second.
constexpr absl::Duration kBound = absl::Seconds(30);

std::chrono::system_clock::time_point BoundFromNow() {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(kBound);
}

// Connects to `port` on the loopback, writes `bytes` and reads until the peer
// ends the connection. OK if it did (end of stream or a reset) within
// `bound`; DEADLINE_EXCEEDED if the connection was still open then.
absl::Status WriteAndAwaitClose(int port, const std::string& bytes,
                                absl::Duration bound) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    const absl::Status status = absl::InternalError(
        absl::StrCat("connect to port ", port, ": ", strerror(errno)));
    close(fd);
    return status;
  }
  // MSG_NOSIGNAL: a server that has closed already must not kill the test.
  if (send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(bytes.size())) {
    close(fd);
    return absl::OkStatus();  // Reset while writing: closed by the server.
  }
  const absl::Time give_up = absl::Now() + bound;
  size_t received = 0;
  while (true) {
    const absl::Duration left = give_up - absl::Now();
    pollfd readable{fd, POLLIN, 0};
    const int ready =
        left > absl::ZeroDuration()
            ? poll(&readable, 1,
                   static_cast<int>(absl::ToInt64Milliseconds(left)) + 1)
            : 0;
    if (ready == 0) {
      close(fd);
      return absl::DeadlineExceededError(absl::StrCat(
          "the server kept the connection open for ",
          absl::FormatDuration(bound), " after ", bytes.size(),
          " bytes of garbage (it sent ", received, " bytes back)"));
    }
    char buffer[4096];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;  // End of stream, or reset: the server closed it.
    received += n;      // E.g. a GOAWAY before the close.
  }
  close(fd);
  return absl::OkStatus();
}

// Cancels a call unless it is over within kBound: the bound for calls that
// carry no deadline of the client's own.
class Watchdog {
 public:
  explicit Watchdog(grpc::ClientContext* context)
      : thread_([this, context] {
          if (!over_.WaitForNotificationWithTimeout(kBound)) {
            ADD_FAILURE() << "no answer within "
                          << absl::FormatDuration(kBound);
            context->TryCancel();
          }
        }) {}
  ~Watchdog() {
    over_.Notify();
    thread_.join();
  }

 private:
  absl::Notification over_;
  std::thread thread_;
};

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ServiceProcess> work =
        StartWorkService({"--work=sleep:200ms", "--threads=2",
                          "--max_sessions=100", "--max_message_bytes=4096"});
    ASSERT_TRUE(work.ok()) << work.status();
    work_ = *std::move(work);
    absl::StatusOr<ServiceProcess> main =
        StartMainService({"--work_address=" + work_.address, "--max_keys=100",
                          "--max_message_bytes=4096"});
    ASSERT_TRUE(main.ok()) << main.status();
    main_ = *std::move(main);
    work_stub_ = NewWorkStub(work_.address);
    main_stub_ = v1::MainService::NewStub(
        grpc::CreateChannel(main_.address, grpc::InsecureChannelCredentials()));
  }

  grpc::Status Run(const v1::RunRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(BoundFromNow());
    v1::RunReply reply;
    return main_stub_->Run(&context, request, &reply);
  }

  // Runs `request` with no deadline of the client's own but a grpc-timeout
  // header of `grpc_timeout` (e.g. "1n"), so that a deadline can only be
  // enforced by the server. A call still running after kBound is cancelled
  // and fails the test.
  grpc::Status RunWithServerTimeout(const v1::RunRequest& request,
                                    const std::string& grpc_timeout) {
    grpc::ClientContext context;
    context.AddMetadata("grpc-timeout", grpc_timeout);
    Watchdog watchdog(&context);
    v1::RunReply reply;
    return main_stub_->Run(&context, request, &reply);
  }

  // The same for a work_service session that sends `messages`.
  grpc::Status SessionWithServerTimeout(
      const std::vector<v1::WorkMsg>& messages,
      const std::string& grpc_timeout) {
    grpc::ClientContext context;
    context.AddMetadata("grpc-timeout", grpc_timeout);
    Watchdog watchdog(&context);
    auto stream = NewWorkStub(work_.address)->Process(&context);
    for (const v1::WorkMsg& message : messages) {
      if (!stream->Write(message)) break;
    }
    v1::ResultMsg message;
    while (stream->Read(&message)) {
    }
    return stream->Finish();
  }

  // Both services still do their normal work.
  void ExpectServing() {
    SessionOutcome session = RunKeys(*NewWorkStub(work_.address), {7});
    EXPECT_TRUE(session.status.ok()) << session.status.error_message();
    v1::RunRequest request;
    request.add_keys(8);
    grpc::Status run = Run(request);
    EXPECT_TRUE(run.ok()) << run.error_message();
  }

  ServiceProcess work_;
  ServiceProcess main_;
  std::unique_ptr<v1::WorkService::Stub> work_stub_;
  std::unique_ptr<v1::MainService::Stub> main_stub_;
};

struct Case {
  std::string name;
  grpc::StatusCode expected;
  // A part of the message that the server answers with, which no client
  // library writes: the status is the server's.
  std::string message;
  // Process sessions the case opens at work_service, and Work it receives
  // there (unset: either may happen); each session must be over once the case
  // has its status.
  std::optional<uint64_t> work_sessions;
  std::optional<uint64_t> work_received;
  std::function<grpc::Status()> send;
};

TEST_F(BadInputTest, EachGetsItsDocumentedStatusFromTheServerAndServiceGoesOn) {
  auto session = [this](std::vector<v1::WorkMsg> messages) {
    return RunSession(*NewWorkStub(work_.address), messages,
                      /*half_close=*/false, kBound)
        .status;
  };
  v1::WorkMsg unknown_member;  // A oneof member from a newer contract.
  unknown_member.GetReflection()
      ->MutableUnknownFields(&unknown_member)
      ->AddLengthDelimited(5, "\x0a\x04\x08\x01\x10\x02");
  v1::WorkMsg oversized = WorkMessage(1, 1);
  oversized.GetReflection()
      ->MutableUnknownFields(&oversized)
      ->AddLengthDelimited(99, std::string(8192, 'x'));
  v1::RunRequest too_many;
  for (int i = 0; i < 101; ++i) too_many.add_keys(i);
  v1::RunRequest too_big;
  for (int i = 0; i < 2000; ++i) too_big.add_keys(UINT64_MAX - i);
  v1::RunRequest one_key;
  one_key.add_keys(1);

  // gRPC's servers write this when a message is over their limit; a client
  // over its own send limit would say "Sent message larger than max".
  const std::string kReceivedTooLarge = "Received message larger than max";
  const std::vector<Case> cases = {
      {"unknown oneof member", grpc::StatusCode::INVALID_ARGUMENT,
       "only a field this service does not know", 1, 0,
       [&] { return session({unknown_member}); }},
      {"empty WorkMsg", grpc::StatusCode::INVALID_ARGUMENT,
       "must set exactly one of 'work', 'batch', 'exit' or 'cancel'", 1, 0,
       [&] { return session({v1::WorkMsg()}); }},
      {"Cancel listing no id", grpc::StatusCode::INVALID_ARGUMENT,
       "a Cancel must list at least one Work id", 1, 1,
       [&] {
         return session({WorkMessage(1, 106), CancelMessage({})});
       }},
      {"Cancel of an id never sent", grpc::StatusCode::INVALID_ARGUMENT,
       "Cancel lists id=9, which no Work of this session used", 1, 1,
       [&] {
         return session({WorkMessage(1, 107), CancelMessage({9})});
       }},
      {"duplicate ids", grpc::StatusCode::INVALID_ARGUMENT,
       "id=4 was already used in this session", 1, 1,
       [&] {
         return session(
             {WorkMessage(4, 100), WorkMessage(4, 101), ExitMessage()});
       }},
      {"work after exit", grpc::StatusCode::FAILED_PRECONDITION,
       "id=2 arrived after Exit", 1, 1,
       [&] {
         return session(
             {WorkMessage(1, 102), ExitMessage(), WorkMessage(2, 103)});
       }},
      {"exit twice", grpc::StatusCode::FAILED_PRECONDITION,
       "a second Exit in one session", 1, 1,
       [&] {
         return session({WorkMessage(1, 104), ExitMessage(), ExitMessage()});
       }},
      {"oversized WorkMsg", grpc::StatusCode::RESOURCE_EXHAUSTED,
       kReceivedTooLarge, 1, 0,
       [&] {
         return session({oversized, ExitMessage()});
       }},
      {"huge ids and keys are fine", grpc::StatusCode::OK, "", 1, 1,
       [&] {
         SessionOutcome outcome =
             RunSession(*NewWorkStub(work_.address),
                        {WorkMessage(UINT64_MAX, UINT64_MAX), ExitMessage()},
                        /*half_close=*/false, kBound);
         if (outcome.status.ok() &&
             (outcome.results().size() != 1 ||
              outcome.results()[0].value() != UINT64_MAX)) {
           return grpc::Status(grpc::StatusCode::INTERNAL, "wrong result");
         }
         return outcome.status;
       }},
      {"empty Run", grpc::StatusCode::INVALID_ARGUMENT, "'keys' is empty", 0, 0,
       [&] { return Run(v1::RunRequest()); }},
      {"Run over --max_keys", grpc::StatusCode::INVALID_ARGUMENT,
       "'keys' has 101 keys; this service takes at most 100", 0, 0,
       [&] { return Run(too_many); }},
      {"RunRequest over the message size", grpc::StatusCode::RESOURCE_EXHAUSTED,
       kReceivedTooLarge, 0, 0, [&] { return Run(too_big); }},
      // The client sets no deadline: only the servers, holding the expired
      // grpc-timeout (1 ns, which gRPC rounds up to 1 ms), can end these
      // calls. Whether a session starts or a unit arrives within that
      // millisecond is a race, so those counts are not checked.
      {"session with its deadline already passed",
       grpc::StatusCode::DEADLINE_EXCEEDED, "", std::nullopt, std::nullopt,
       [&] {
         return SessionWithServerTimeout({WorkMessage(1, 105), ExitMessage()},
                                         "1n");
       }},
      {"Run with its deadline already passed",
       grpc::StatusCode::DEADLINE_EXCEEDED, "", std::nullopt, std::nullopt,
       [&] { return RunWithServerTimeout(one_key, "1n"); }},
  };
  // main_service's shared session to work_service is opened now, so that each
  // case below finds it there and leaves it there.
  v1::RunRequest warm_up;
  warm_up.add_keys(999);
  ASSERT_TRUE(Run(warm_up).ok());
  absl::StatusOr<v1::Stats> warm = GetStats(*work_stub_);
  ASSERT_TRUE(warm.ok()) << warm.status();
  ASSERT_EQ(warm->sessions_active(), 1u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<v1::Stats> before = GetStats(*work_stub_);
    ASSERT_TRUE(before.ok()) << before.status();
    grpc::Status status = c.send();
    EXPECT_EQ(status.error_code(), c.expected) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    // work_service saw the sessions the case opens, no more, and has ended
    // them all: only main_service's shared session is left. (Not the count
    // seen before the case: a session refused by the transport may be counted
    // a moment after its client has the status, so that count can be stale.)
    absl::StatusOr<v1::Stats> after =
        AwaitStats(*work_stub_,
                   [](const v1::Stats& s) { return s.sessions_active() == 1; });
    ASSERT_TRUE(after.ok()) << after.status();
    if (c.work_sessions.has_value()) {
      EXPECT_EQ(after->sessions_total() - before->sessions_total(),
                *c.work_sessions);
    }
    if (c.work_received.has_value()) {
      EXPECT_EQ(after->work_received() - before->work_received(),
                *c.work_received);
    }
    ExpectServing();
  }
}

TEST_F(BadInputTest, SilentStreamIsHeldUntilTheClientGoesThenFreed) {
  // A stream that never writes is a session like any other: work_service has
  // no idle timeout (a client may take its time), so it holds the session,
  // and frees it as soon as the client goes.
  absl::StatusOr<v1::Stats> before = GetStats(*work_stub_);
  ASSERT_TRUE(before.ok()) << before.status();
  grpc::ClientContext context;
  context.set_deadline(BoundFromNow());
  auto stream = work_stub_->Process(&context);
  // The counters are read one by one: a session is counted active (its
  // place reserved) a moment before it is counted in the total.
  const uint64_t total = before->sessions_total() + 1;
  absl::StatusOr<v1::Stats> held =
      AwaitStats(*work_stub_, [total](const v1::Stats& s) {
        return s.sessions_active() == 1 && s.sessions_total() == total;
      });
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->work_received(), before->work_received());

  context.TryCancel();  // The client goes.
  v1::ResultMsg message;
  EXPECT_FALSE(stream->Read(&message));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  absl::StatusOr<v1::Stats> freed = AwaitStats(
      *work_stub_, [](const v1::Stats& s) { return s.sessions_active() == 0; });
  EXPECT_TRUE(freed.ok()) << freed.status();
  ExpectServing();
}

TEST_F(BadInputTest, GarbageBytesMakeTheServerCloseTheConnectionAndItGoesOn) {
  const std::string garbage =
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(1000, '\xff');
  for (int port : {work_.port, main_.port}) {
    SCOPED_TRACE(absl::StrCat("port ", port));
    // The server reads an HTTP/2 preface that is not one and closes the
    // connection (possibly after a GOAWAY).
    const absl::Status closed = WriteAndAwaitClose(port, garbage, kBound);
    EXPECT_TRUE(closed.ok()) << closed;
  }
  ExpectServing();
}

TEST_F(BadInputTest, ThousandsOfIdleStreamsAreCappedAndCleanedUp) {
  // 2000 streams that never write, over a few connections. The first 100
  // hold sessions (--max_sessions=100); the rest are refused.
  constexpr int kStreams = 2000;
  std::vector<std::unique_ptr<v1::WorkService::Stub>> stubs;
  for (int i = 0; i < 8; ++i) stubs.push_back(NewWorkStub(work_.address));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<
      std::unique_ptr<grpc::ClientReaderWriter<v1::WorkMsg, v1::ResultMsg>>>
      streams;
  // One bound for all: a stream the service never ends cannot hang the test.
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::minutes(5);
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(deadline);
    streams.push_back(stubs[i % stubs.size()]->Process(contexts.back().get()));
  }
  absl::StatusOr<v1::Stats> full = AwaitStats(
      *work_stub_,
      [](const v1::Stats& s) {
        return s.sessions_active() + s.sessions_refused() == kStreams;
      },
      absl::Seconds(60));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->sessions_active(), 100u);
  EXPECT_EQ(full->sessions_refused(), kStreams - 100u);

  // Half-closing ends each held session normally (Exit with no work); the
  // refused ones report why they were refused.
  int ok = 0;
  int refused = 0;
  for (int i = 0; i < kStreams; ++i) {
    streams[i]->WritesDone();
    v1::ResultMsg message;
    while (streams[i]->Read(&message)) {
    }
    const grpc::Status status = streams[i]->Finish();
    ok += status.ok() ? 1 : 0;
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
        status.error_message().find("--max_sessions") != std::string::npos) {
      ++refused;
    }
  }
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(refused, kStreams - 100);
  absl::StatusOr<v1::Stats> drained = AwaitStats(
      *work_stub_, [](const v1::Stats& s) { return s.sessions_active() == 0; });
  EXPECT_TRUE(drained.ok()) << drained.status();
  ExpectServing();
}

}  // namespace
}  // namespace pieces
