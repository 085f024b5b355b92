// The harness's own promise (test_process.h): what a service does wrong, up
// to its very end, fails the test that started it. Each case starts a copy of
// work_service with a defect planted at exit (planted_defect.cc), lets the
// harness stop it, and expects exactly that test failure.
#include "tests/testing/test_process.h"

#include <signal.h>

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/testing/work_client.h"

namespace pieces::testing {
namespace {

constexpr absl::string_view kSanitize = PIECES_SANITIZE;

// Starts the planted copy, has it answer one session, then lets it go.
void RunPlanted(const std::string& defect) {
  absl::StatusOr<ServiceProcess> service = StartTestService(
      PIECES_PLANTED_DEFECT_BIN, {"--planted_defect=" + defect});
  ASSERT_TRUE(service.ok()) << service.status();
  auto stub = NewWorkStub(service->address);
  SessionOutcome outcome = RunKeys(*stub, {1, 2});
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
}  // The harness stops the service here, which is when the defect shows.

TEST(TestProcessTest, AServiceThatExitsCleanlyPasses) { RunPlanted("none"); }

TEST(TestProcessTest, AServiceThatExitsNonZeroFailsItsTest) {
  EXPECT_NONFATAL_FAILURE(RunPlanted("exit"), "exited with 3");
}

TEST(TestProcessTest, ALeakInAServiceFailsItsTest) {
  if (!absl::StrContains(kSanitize, "address")) {
    GTEST_SKIP() << "leaks are seen under -DPIECES_SANITIZE=address,undefined";
  }
  EXPECT_NONFATAL_FAILURE(RunPlanted("leak"), "LeakSanitizer");
}

TEST(TestProcessTest, ARaceInAServiceFailsItsTest) {
  if (!absl::StrContains(kSanitize, "thread")) {
    GTEST_SKIP() << "races are seen under -DPIECES_SANITIZE=thread";
  }
  EXPECT_NONFATAL_FAILURE(RunPlanted("race"), "ThreadSanitizer");
}

TEST(TestProcessTest, AServiceKilledByItsTestIsNotAFailure) {
  absl::StatusOr<ServiceProcess> service = StartWorkService({});
  ASSERT_TRUE(service.ok()) << service.status();
  service->process->Signal(SIGKILL);
}

TEST(TestProcessTest, AServiceThatDiesOnItsOwnFailsItsTest) {
  EXPECT_NONFATAL_FAILURE(
      {
        absl::StatusOr<ServiceProcess> service = StartWorkService({});
        ASSERT_TRUE(service.ok()) << service.status();
        // Not the test's doing as far as the harness knows: a crash.
        kill(service->process->pid(), SIGSEGV);
      },
      // 139 (128 + SIGSEGV), or 1 where a sanitizer catches the signal.
      "exited with ");
}

}  // namespace
}  // namespace pieces::testing
