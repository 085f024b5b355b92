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
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CallRun;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;
using ::testing::HasSubstr;

TEST(FaultsTest, WorkServiceKilledDuringRunIsUnavailableQuicklyThenRecovers) {
  ServiceProcess work =
      StartWorkServiceOrFail({"--work=sleep:5s", "--threads=2"});
  const int port = work.port;
  ServiceProcess main =
      StartMainServiceOrFail({"--work_address=" + work.address});
  auto stub = v1::MainService::NewStub(
      grpc::CreateChannel(main.address, grpc::InsecureChannelCredentials()));

  grpc::Status status;
  absl::Time answered;
  std::thread caller([&] {
    v1::RunReply reply;
    status = CallRun(*stub, {1, 2, 3}, &reply);
    answered = absl::Now();
  });
  auto work_stub = NewWorkStub(work.address);
  ASSERT_TRUE(AwaitStats(*work_stub, [](const v1::Stats& s) {
                return s.work_received() == 3;
              }).ok());
  const absl::Time killed = absl::Now();
  work.process->Signal(SIGKILL);
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(work.address));
  EXPECT_LT(answered - killed, absl::Seconds(2));

  // A new work_service on the same port: main serves again, unrestarted.
  ServiceProcess back = StartWorkServiceOrFail({"--port=" + std::to_string(port), "--work=echo"});
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
  ServiceProcess work = StartWorkServiceOrFail(
      {"--work=sleep:300ms", "--threads=2", "--grace_period=500ms"});
  auto stub = NewWorkStub(work.address);
  // A session that never sends Exit: it cannot finish by itself.
  grpc::ClientContext context;
  auto session = stub->Process(&context);
  ASSERT_TRUE(session->Write(WorkMessage(1, 1)));
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.work_received() == 1;
              }).ok());
  const absl::Time signalled = absl::Now();
  work.process->Signal(SIGTERM);
  v1::ResultMsg message;
  int results = 0;
  while (session->Read(&message)) results += message.has_result() ? 1 : 0;
  grpc::Status status = session->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_EQ(results, 1);  // Its unit finished within the grace period.
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(5));
  absl::StatusOr<int> exit_code = work.process->AwaitExit(absl::Seconds(10));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace pieces
