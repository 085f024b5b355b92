// ResultMsg.draining: a stopping work_service tells every open session, once,
// and still answers the work they send until they end with Exit.
//
// The first test signals the real binary; the others serve WorkServiceImpl in
// this process, so that they can call Drain() at a moment of their choosing
// (between it and the server's shutdown, a real SIGTERM leaves no time to
// open a session).
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/gate.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"
#include "work_service/work_function.h"
#include "work_service/work_service.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::Gate;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::SessionStream;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;

// Whether the next message of `session` is the Draining notice.
::testing::AssertionResult ReadsDraining(SessionStream& session) {
  std::optional<v1::ResultMsg> message = session.Read();
  if (!message.has_value()) {
    return ::testing::AssertionFailure() << "the call ended without a Draining";
  }
  if (!message->has_draining()) {
    return ::testing::AssertionFailure()
           << "expected Draining, got " << message->ShortDebugString();
  }
  return ::testing::AssertionSuccess();
}

// Whether `outcome` is OK and holds a Result for each of `ids` (in any
// order), then one Exited counting `completed`, last, and no Draining.
::testing::AssertionResult AnswersThenExited(const SessionOutcome& outcome,
                                             std::vector<uint64_t> ids,
                                             uint64_t completed) {
  if (!outcome.status.ok()) {
    return ::testing::AssertionFailure()
           << "status " << outcome.status.error_code() << ": "
           << outcome.status.error_message();
  }
  if (outcome.CountDraining() != 0) {
    return ::testing::AssertionFailure() << "a second Draining";
  }
  if (outcome.messages.empty() || !outcome.messages.back().has_exited() ||
      outcome.messages.back().exited().completed() != completed) {
    return ::testing::AssertionFailure()
           << "no Exited{completed: " << completed << "} last";
  }
  std::vector<uint64_t> answered;
  for (const v1::Result& result : outcome.results()) {
    if (result.has_error() || result.value() != result.key()) {
      return ::testing::AssertionFailure()
             << "a wrong result: " << result.ShortDebugString();
    }
    answered.push_back(result.id());
  }
  std::sort(answered.begin(), answered.end());
  std::sort(ids.begin(), ids.end());
  if (answered != ids || outcome.messages.size() != ids.size() + 1) {
    return ::testing::AssertionFailure()
           << "answered " << ::testing::PrintToString(answered) << " in "
           << outcome.messages.size() << " messages, expected "
           << ::testing::PrintToString(ids);
  }
  return ::testing::AssertionSuccess();
}

TEST(DrainingTest, SigtermTellsEachOpenSessionOnceAndItsWorkIsStillAnswered) {
  ServiceProcess service;
  Gate gate;  // After the service: opened before the service is stopped.
  service = StartWorkServiceOrFail(
      {gate.WorkFlag(), "--threads=2", "--grace_period=20s"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);

  // A session with units running, one that has sent nothing, and one that
  // has sent its Exit and waits for its result.
  SessionStream busy(*stub);
  ASSERT_TRUE(busy.Write(WorkMessage(0, 1)));
  ASSERT_TRUE(busy.Write(WorkMessage(1, 2)));
  SessionStream idle(*stub);
  SessionStream exiting(*stub);
  ASSERT_TRUE(exiting.Write(WorkMessage(0, 3)));
  ASSERT_TRUE(exiting.Write(ExitMessage()));
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.work_received() == 3 && s.sessions_active() == 3;
              }).ok());

  service.process->Signal(SIGTERM);
  ASSERT_TRUE(service.process->AwaitOutput("got SIGTERM", absl::Seconds(10)));
  // Every unit still blocks: the notice is each session's first message.
  EXPECT_TRUE(ReadsDraining(busy));
  EXPECT_TRUE(ReadsDraining(idle));
  EXPECT_TRUE(ReadsDraining(exiting));

  // Work sent after the notice (it was in transit, say) is answered too.
  ASSERT_TRUE(busy.Write(WorkMessage(2, 4)));
  ASSERT_TRUE(busy.Write(WorkMessage(3, 1)));  // Parks on unit 0.
  ASSERT_TRUE(idle.WritesDone());
  EXPECT_TRUE(AnswersThenExited(idle.Finish(), {}, 0));
  gate.Open();
  ASSERT_TRUE(busy.WritesDone());
  EXPECT_TRUE(AnswersThenExited(busy.Finish(), {0, 1, 2, 3}, 4));
  EXPECT_TRUE(AnswersThenExited(exiting.Finish(), {0}, 1));

  absl::StatusOr<int> exit_code = service.process->AwaitExit(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

// WorkServiceImpl served in this process, on a free port.
class InProcessWorkService {
 public:
  InProcessWorkService() {
    absl::StatusOr<std::unique_ptr<WorkFunction>> work =
        MakeWorkFunction("echo");
    EXPECT_TRUE(work.ok()) << work.status();
    WorkServiceImpl::Options options;
    options.threads = 2;
    service_ = std::make_unique<WorkServiceImpl>(*std::move(work), options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    // Served on the service's queue, as RunServer does.
    builder.RegisterService(service_->health());
    service_->AddCompletionQueues(builder);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    if (server_ != nullptr) service_->StartServing();
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~InProcessWorkService() {
    if (server_ != nullptr) server_->Shutdown();
    service_->StopServing();
  }

  WorkServiceImpl& service() { return *service_; }
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<WorkServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST(DrainingTest, SessionOpenedAfterDrainIsToldAtOnce) {
  InProcessWorkService work;
  auto stub = NewWorkStub(work.address());
  // A session open before, idle: told by Drain itself.
  SessionStream before(*stub);
  ASSERT_TRUE(before.Write(WorkMessage(0, 5)));
  std::optional<v1::ResultMsg> answered = before.Read();
  ASSERT_TRUE(answered.has_value() && answered->has_result());

  work.service().Drain();
  work.service().Drain();  // Once is enough; a second call changes nothing.
  EXPECT_TRUE(ReadsDraining(before));
  SessionStream after(*stub);
  EXPECT_TRUE(ReadsDraining(after));  // Before it has sent anything.

  ASSERT_TRUE(after.Write(WorkMessage(7, 8)));
  ASSERT_TRUE(after.WritesDone());
  EXPECT_TRUE(AnswersThenExited(after.Finish(), {7}, 1));
  ASSERT_TRUE(before.Write(WorkMessage(1, 6)));
  ASSERT_TRUE(before.WritesDone());
  EXPECT_TRUE(AnswersThenExited(before.Finish(), {1}, 2));
}

TEST(DrainingTest, DrainWhileSessionsOpenAndEndTellsEachAtMostOnce) {
  // Sessions open, work and end on several threads while the service is
  // drained: each gets its results and its Exited, a Draining at most once
  // and never after the Exited, and once a client has seen one, every
  // session it opens later is told at once. (The sanitizer builds watch the
  // registry for races.)
  InProcessWorkService work;
  constexpr int kClients = 4;
  // A bound, should Drain never be called; far more than a client needs.
  static constexpr int kMaxSessionsPerClient = 20000;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&work] {
      auto stub = NewWorkStub(work.address());
      int after_drain = 0;  // Sessions opened after one was told.
      for (int s = 0; s < kMaxSessionsPerClient && after_drain < 3; ++s) {
        SessionStream session(*stub);
        for (uint64_t id = 0; id < 5; ++id) {
          ASSERT_TRUE(session.Write(WorkMessage(id, id + s % 100)));
        }
        ASSERT_TRUE(session.WritesDone());
        SessionOutcome outcome = session.Finish();
        ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
        ASSERT_LE(outcome.CountDraining(), 1);
        ASSERT_FALSE(outcome.messages.empty());
        ASSERT_TRUE(outcome.messages.back().has_exited());
        EXPECT_EQ(outcome.messages.back().exited().completed(), 5u);
        EXPECT_EQ(outcome.results().size(), 5u);
        if (after_drain > 0) {
          EXPECT_TRUE(outcome.messages.front().has_draining())
              << "session " << s << " opened after Drain was not told first";
          ++after_drain;
        } else if (outcome.CountDraining() == 1) {
          after_drain = 1;
        }
      }
      EXPECT_EQ(after_drain, 3) << "no session was told within "
                                << kMaxSessionsPerClient << " sessions";
    });
  }
  // Drain once the clients are under way (EXPECT: the clients must be
  // joined).
  EXPECT_TRUE(AwaitStats(*NewWorkStub(work.address()), [](const v1::Stats& s) {
                return s.sessions_total() >= 2 * kClients;
              }).ok());
  work.service().Drain();
  for (std::thread& client : clients) client.join();
}

}  // namespace
}  // namespace pieces
