// common/server_runner.h through the real work_service.
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::StartTestProcess;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkServiceBinary;
using ::testing::HasSubstr;

// Without SO_REUSEPORT, a second server on a port in use fails at start
// instead of silently taking a share of the first one's connections.
TEST(ServerRunnerTest, ASecondServerOnAPortInUseFailsToStart) {
  ServiceProcess first = StartWorkServiceOrFail({});
  ASSERT_NE(first.process, nullptr);
  absl::StatusOr<std::unique_ptr<ChildProcess>> second = StartTestProcess(
      WorkServiceBinary(), {"--port=" + std::to_string(first.port)});
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<int> exit_code = (*second)->AwaitExit(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 1);
  EXPECT_THAT((*second)->output(),
              HasSubstr("cannot listen on port " + std::to_string(first.port)));
  // The first one still serves.
  auto stub = testing::NewWorkStub(first.address);
  EXPECT_TRUE(testing::GetStats(*stub).ok());
}

// --help lists each service's own flags and the shared ones (absl's default
// lists only those of a file named after the program: none).
TEST(ServerRunnerTest, HelpListsTheOwnAndTheSharedFlags) {
  struct Program {
    std::string path;
    std::string own_flag;
  };
  for (const Program& program :
       {Program{WorkServiceBinary(), "--max_in_flight"},
        Program{testing::MainServiceBinary(), "--work_address"}}) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> process =
        StartTestProcess(program.path, {"--help"});
    ASSERT_TRUE(process.ok()) << process.status();
    ASSERT_TRUE((*process)->AwaitExit(absl::Seconds(60)).ok());
    EXPECT_THAT((*process)->output(), HasSubstr(program.own_flag + " ("))
        << program.path;
    EXPECT_THAT((*process)->output(), HasSubstr("--grace_period ("))
        << program.path;
  }
}

}  // namespace
}  // namespace pieces
