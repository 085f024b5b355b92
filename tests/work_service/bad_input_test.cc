// Malformed and hostile input, against the real binaries: each case gets its
// documented status, and both services answer normal requests afterwards.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::GetStats;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunKeys;
using ::pieces::testing::RunSession;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::StartMainService;
using ::pieces::testing::StartWorkService;
using ::pieces::testing::WorkMessage;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ServiceProcess> work = StartWorkService(
        {"--work=sleep:200ms", "--threads=2", "--max_sessions=100",
         "--max_message_bytes=4096"});
    ASSERT_TRUE(work.ok()) << work.status();
    work_ = *std::move(work);
    absl::StatusOr<ServiceProcess> main = StartMainService(
        {"--work_address=" + work_.address, "--max_keys=100",
         "--max_message_bytes=4096"});
    ASSERT_TRUE(main.ok()) << main.status();
    main_ = *std::move(main);
    work_stub_ = NewWorkStub(work_.address);
    main_stub_ = v1::MainService::NewStub(grpc::CreateChannel(
        main_.address, grpc::InsecureChannelCredentials()));
  }

  grpc::Status Run(const v1::RunRequest& request,
                   std::chrono::system_clock::time_point deadline =
                       std::chrono::system_clock::now() +
                       std::chrono::seconds(30)) {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    v1::RunReply reply;
    return main_stub_->Run(&context, request, &reply);
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
  std::function<grpc::Status()> send;
};

TEST_F(BadInputTest, EachGetsItsDocumentedStatusAndServiceGoesOn) {
  auto session = [this](std::vector<v1::WorkMsg> messages) {
    return RunSession(*NewWorkStub(work_.address), messages).status;
  };
  v1::WorkMsg unknown_member;  // A oneof member from a newer contract.
  unknown_member.GetReflection()
      ->MutableUnknownFields(&unknown_member)
      ->AddLengthDelimited(4, "\x0a\x04\x08\x01\x10\x02");
  v1::WorkMsg oversized = WorkMessage(1, 1);
  oversized.GetReflection()->MutableUnknownFields(&oversized)->AddLengthDelimited(
      99, std::string(8192, 'x'));
  v1::RunRequest too_many;
  for (int i = 0; i < 101; ++i) too_many.add_keys(i);
  v1::RunRequest too_big;
  for (int i = 0; i < 2000; ++i) too_big.add_keys(UINT64_MAX - i);
  v1::RunRequest one_key;
  one_key.add_keys(1);

  const std::vector<Case> cases = {
      {"unknown oneof member", grpc::StatusCode::INVALID_ARGUMENT,
       [&] { return session({unknown_member}); }},
      {"empty WorkMsg", grpc::StatusCode::INVALID_ARGUMENT,
       [&] { return session({v1::WorkMsg()}); }},
      {"duplicate ids", grpc::StatusCode::INVALID_ARGUMENT,
       [&] { return session({WorkMessage(4, 100), WorkMessage(4, 101), ExitMessage()}); }},
      {"work after exit", grpc::StatusCode::FAILED_PRECONDITION,
       [&] { return session({WorkMessage(1, 102), ExitMessage(), WorkMessage(2, 103)}); }},
      {"exit twice", grpc::StatusCode::FAILED_PRECONDITION,
       [&] { return session({WorkMessage(1, 104), ExitMessage(), ExitMessage()}); }},
      {"oversized WorkMsg", grpc::StatusCode::RESOURCE_EXHAUSTED,
       [&] { return session({oversized, ExitMessage()}); }},
      {"huge ids and keys are fine", grpc::StatusCode::OK,
       [&] {
         SessionOutcome outcome = RunSession(
             *NewWorkStub(work_.address),
             {WorkMessage(UINT64_MAX, UINT64_MAX), ExitMessage()});
         if (outcome.status.ok() &&
             (outcome.results().size() != 1 ||
              outcome.results()[0].value() != UINT64_MAX)) {
           return grpc::Status(grpc::StatusCode::INTERNAL, "wrong result");
         }
         return outcome.status;
       }},
      {"empty Run", grpc::StatusCode::INVALID_ARGUMENT,
       [&] { return Run(v1::RunRequest()); }},
      {"Run over --max_keys", grpc::StatusCode::INVALID_ARGUMENT,
       [&] { return Run(too_many); }},
      {"RunRequest over the message size", grpc::StatusCode::RESOURCE_EXHAUSTED,
       [&] { return Run(too_big); }},
      {"deadline already expired", grpc::StatusCode::DEADLINE_EXCEEDED,
       [&] { return Run(one_key, std::chrono::system_clock::now() -
                                     std::chrono::seconds(1)); }},
      {"stream opened and never written to", grpc::StatusCode::DEADLINE_EXCEEDED,
       [&] {
         // The service waits for the client; the client's deadline ends it.
         grpc::ClientContext context;
         context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::milliseconds(300));
         auto stream = work_stub_->Process(&context);
         v1::ResultMsg message;
         while (stream->Read(&message)) {
         }
         return stream->Finish();
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status status = c.send();
    EXPECT_EQ(status.error_code(), c.expected) << status.error_message();
    EXPECT_FALSE(status.ok() && c.expected != grpc::StatusCode::OK);
    ExpectServing();
  }
}

TEST_F(BadInputTest, GarbageBytesOnTheConnectionAreDroppedAndServiceGoesOn) {
  for (int port : {work_.port, main_.port}) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    const std::string garbage =
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(1000, '\xff');
    ASSERT_GT(write(fd, garbage.data(), garbage.size()), 0);
    // The server answers with an HTTP/2 GOAWAY or just closes: either way the
    // connection ends (read returns 0 or an error) instead of hanging.
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
    }
    close(fd);
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
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<v1::WorkMsg, v1::ResultMsg>>>
      streams;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
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
    refused += status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ? 1 : 0;
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
