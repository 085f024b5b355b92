#include "common/process/child_process.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pieces {
namespace {

using ::testing::HasSubstr;

// Generous, so that a slow (e.g. sanitized) build never fails a correct
// launcher.
constexpr absl::Duration kTimeout = absl::Seconds(20);

std::unique_ptr<ChildProcess> StartShell(const std::string& script,
                                         const ChildProcessOptions& options) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start("/bin/sh", {"-c", script}, options);
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
}

TEST(ChildProcessTest, AProgramThatCannotBeStartedIsAnError) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start("/nonexistent/program", {}, ChildProcessOptions());
  ASSERT_FALSE(process.ok());
  EXPECT_THAT(process.status().message(),
              HasSubstr("cannot start /nonexistent/program"));
}

TEST(ChildProcessTest, KeepsStdoutAndStderrAndReportsTheExitCode) {
  std::unique_ptr<ChildProcess> process =
      StartShell("echo out; echo err >&2; exit 3", ChildProcessOptions());
  ASSERT_NE(process, nullptr);
  absl::StatusOr<int> code = process->AwaitExit(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  EXPECT_THAT(process->output(), HasSubstr("out\n"));
  EXPECT_THAT(process->output(), HasSubstr("err\n"));
  EXPECT_EQ(process->name(), "sh");
}

TEST(ChildProcessTest, ReadsThePortOfTheListeningLine) {
  std::unique_ptr<ChildProcess> process =
      StartShell("echo 'x listening on 0.0.0.0:4321'; exec sleep 30",
                 ChildProcessOptions());
  ASSERT_NE(process, nullptr);
  absl::StatusOr<int> port = process->AwaitPort(kTimeout);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 4321);
}

TEST(ChildProcessTest, AProgramThatNeverListensHasNoPort) {
  std::unique_ptr<ChildProcess> process =
      StartShell("echo starting", ChildProcessOptions());
  ASSERT_NE(process, nullptr);
  absl::StatusOr<int> port = process->AwaitPort(kTimeout);
  EXPECT_EQ(port.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(port.status().message(), HasSubstr("starting"));
}

TEST(ChildProcessTest, ASignalledProgramExitsWith128PlusTheSignal) {
  std::unique_ptr<ChildProcess> process =
      StartShell("echo ready; exec sleep 30", ChildProcessOptions());
  ASSERT_NE(process, nullptr);
  ASSERT_TRUE(process->AwaitOutput("ready", kTimeout));
  EXPECT_EQ(process->AwaitExit(absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  process->Signal(SIGKILL);
  absl::StatusOr<int> code = process->AwaitExit(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGKILL);
}

TEST(ChildProcessTest, ReadsMemoryAndCpuUse) {
  // The shell burns CPU (about 0.1 s), then waits for a child that sleeps,
  // which takes it off the CPU at least once, then stays until killed.
  std::unique_ptr<ChildProcess> process = StartShell(
      "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 0.1; "
      "echo ready; exec sleep 30",
      ChildProcessOptions());
  ASSERT_NE(process, nullptr);
  ASSERT_TRUE(process->AwaitOutput("ready", kTimeout));
  absl::StatusOr<int64_t> rss = process->ResidentBytes();
  ASSERT_TRUE(rss.ok()) << rss.status();
  EXPECT_GT(*rss, 0);
  absl::StatusOr<ChildProcess::Usage> usage = process->ReadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GT(usage->cpu, absl::ZeroDuration());
  EXPECT_GT(usage->context_switches, 0u);
}

// With a stop timeout, the destructor asks with SIGTERM first: a program
// that exits on it is not killed, one that ignores it is, after the timeout.
TEST(ChildProcessTest, StopsWithSigtermThenSigkillAfterTheTimeout) {
  // The program that obeys leaves a file behind when it gets SIGTERM.
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string obeyed =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/pieces-obeyed-", getpid());
  std::remove(obeyed.c_str());
  ChildProcessOptions patient;
  patient.stop_timeout = absl::Seconds(60);
  ChildProcessOptions options;
  options.stop_timeout = absl::Seconds(1);
  std::unique_ptr<ChildProcess> obeys = StartShell(
      absl::StrCat("trap 'touch ", obeyed,
                   "; exit 0' TERM; echo ready; while :; do sleep 0.05; done"),
      patient);
  std::unique_ptr<ChildProcess> ignores = StartShell(
      "trap '' TERM; echo ready; while :; do sleep 0.05; done", options);
  ASSERT_NE(obeys, nullptr);
  ASSERT_NE(ignores, nullptr);
  ASSERT_TRUE(obeys->AwaitOutput("ready", kTimeout));
  ASSERT_TRUE(ignores->AwaitOutput("ready", kTimeout));

  // Reaped as soon as it exits: long before its stop timeout, which would
  // end in SIGKILL.
  absl::Time start = absl::Now();
  obeys.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(access(obeyed.c_str(), F_OK), 0) << "it never got SIGTERM";
  std::remove(obeyed.c_str());
  start = absl::Now();
  ignores.reset();
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
}

// Starts `sh -c "echo ready; exec sleep 30"` from a thread that then exits,
// as a parent process would, and hands the ChildProcess back.
std::unique_ptr<ChildProcess> StartFromAThreadThatExits(
    const ChildProcessOptions& options) {
  std::unique_ptr<ChildProcess> process;
  std::thread starter(
      [&] { process = StartShell("echo ready; exec sleep 30", options); });
  starter.join();
  return process;
}

// The kernel kills a die_with_parent program when the thread that started it
// exits (PR_SET_PDEATHSIG), and leaves any other program running.
TEST(ChildProcessTest, DiesWithTheThreadThatStartedItWhenAsked) {
  ChildProcessOptions options;
  options.die_with_parent = true;
  std::unique_ptr<ChildProcess> dies = StartFromAThreadThatExits(options);
  std::unique_ptr<ChildProcess> stays =
      StartFromAThreadThatExits(ChildProcessOptions());
  ASSERT_NE(dies, nullptr);
  ASSERT_NE(stays, nullptr);

  absl::StatusOr<int> code = dies->AwaitExit(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGKILL);
  // `stays` has had as long as `dies` took to be killed, and more.
  ASSERT_TRUE(stays->AwaitOutput("ready", kTimeout));
  EXPECT_EQ(stays->AwaitExit(absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace pieces
