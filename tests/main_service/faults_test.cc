// Faults around main_service, against the real binaries: the work service
// killed in the middle of a Run, and the shutdown grace period running out.
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/gate.h"
#include "tests/testing/joining_thread.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CallRun;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::Gate;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;
using ::testing::HasSubstr;

TEST(FaultsTest, WorkServiceKilledDuringRunIsUnavailableQuicklyThenRecovers) {
  // Units that never finish while the gate is closed: only noticing the
  // kill can end the Run before its deadline.
  ServiceProcess work;
  Gate gate;
  work = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=2"});
  const int port = work.port;
  ServiceProcess main =
      StartMainServiceOrFail({"--work_address=" + work.address});
  auto stub = v1::MainService::NewStub(
      grpc::CreateChannel(main.address, grpc::InsecureChannelCredentials()));

  grpc::Status status;
  absl::Time answered;
  JoiningThread caller([&] {
    v1::RunReply reply;
    status = CallRun(*stub, {1, 2, 3}, &reply, absl::Seconds(120));
    answered = absl::Now();
  });
  auto work_stub = NewWorkStub(work.address);
  ASSERT_TRUE(AwaitStats(*work_stub, [](const v1::Stats& s) {
                return s.work_received() == 3;
              }).ok());
  const absl::Time killed = absl::Now();
  work.process->Signal(SIGKILL);
  caller.Join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(work.address));
  // Does not hang: at once in practice, far sooner than the Run's deadline.
  EXPECT_LT(answered - killed, absl::Seconds(20));

  // A new work_service on the same port: main serves again, unrestarted.
  ServiceProcess back =
      StartWorkServiceOrFail({"--port=" + std::to_string(port), "--work=echo"});
  grpc::Status recovered;
  v1::RunReply reply;
  for (absl::Time end = absl::Now() + absl::Seconds(15); absl::Now() < end;) {
    recovered = CallRun(*stub, {1, 2, 3}, &reply);
    if (recovered.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  EXPECT_EQ(reply.results_size(), 3);
}

TEST(FaultsTest, SessionsStillOpenWhenTheGracePeriodEndsGetAClearStatus) {
  ServiceProcess work;
  Gate gate;
  work = StartWorkServiceOrFail(
      {gate.WorkFlag(), "--threads=2", "--grace_period=2s"});
  auto stub = NewWorkStub(work.address);
  // A session that never sends Exit: it cannot finish by itself. The deadline
  // only keeps a service that never ends it from hanging the test.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto session = stub->Process(&context);
  ASSERT_TRUE(session->Write(WorkMessage(1, 1)));
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.work_received() == 1;
              }).ok());
  const absl::Time signalled = absl::Now();
  work.process->Signal(SIGTERM);
  // Its unit, let go once the service drains, still finishes and is written.
  ASSERT_TRUE(work.process->AwaitOutput("got SIGTERM", absl::Seconds(20)));
  gate.Open();
  v1::ResultMsg message;
  int results = 0;
  while (session->Read(&message)) results += message.has_result() ? 1 : 0;
  grpc::Status status = session->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_EQ(results, 1);
  // Does not hang: ends at the grace period, far sooner than this.
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(20));
  absl::StatusOr<int> exit_code = work.process->AwaitExit(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace pieces
