// The event log through the real binaries. --log_format=json: every line
// either program writes, from start-up to the end of its drain, is one JSON
// object with the fixed keys (README.md, Logs), and the events an operator
// needs are there. --log_calls: which calls get a call_end line.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"

namespace pieces {
namespace {

using ::pieces::testing::CallRun;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartTestProcess;
using ::pieces::testing::StartWorkServiceOrFail;
using ::testing::HasSubstr;

// Checks `output` with Python's json module: each line an object with the
// fixed keys, `program` = `program`; prints the events, one per line.
// Returns the events, or fails the test.
std::vector<std::string> JsonEvents(const std::string& output,
                                    const std::string& program) {
  char path[] = "/tmp/pieces_json_log_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  EXPECT_EQ(write(fd, output.data(), output.size()),
            static_cast<ssize_t>(output.size()));
  close(fd);
  const std::string command = absl::StrCat(
      "python3 -c '\n"
      "import json, sys\n"
      "for n, line in enumerate(open(sys.argv[1]), 1):\n"
      "    o = json.loads(line)\n"
      "    assert isinstance(o, dict), (n, line)\n"
      "    keys = list(o)[:5]\n"
      "    assert keys == [\"ts\", \"level\", \"program\", \"event\", "
      "\"message\"], (n, keys)\n"
      "    assert o[\"program\"] == sys.argv[2], (n, o)\n"
      "    assert o[\"level\"] in (\"info\", \"warning\"), (n, o)\n"
      "    print(o[\"event\"])\n"
      "' ",
      path, " ", program, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string result;
  char buffer[4096];
  size_t n;
  while (pipe != nullptr && (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.append(buffer, n);
  }
  const int status = pipe == nullptr ? -1 : pclose(pipe);
  unlink(path);
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "not JSON lines with the fixed keys: " << result << "\nin:\n"
      << output;
  return absl::StrSplit(result, '\n', absl::SkipEmpty());
}

bool Has(const std::vector<std::string>& events, const std::string& event) {
  for (const std::string& e : events) {
    if (e == event) return true;
  }
  return false;
}

// Makes one Run that succeeds and one refused (no keys) through `main`, then
// stops it with SIGTERM and expects it to exit 0: its drain ends after every
// call has ended and been logged.
void OneGoodAndOneRefusedRunThenStop(const ServiceProcess& main) {
  auto stub = NewMainStub(main.address);
  v1::RunReply reply;
  ASSERT_TRUE(CallRun(*stub, {1, 2, 1}, &reply).ok());
  EXPECT_EQ(CallRun(*stub, std::vector<uint64_t>{}, &reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  main.process->Signal(SIGTERM);
  absl::StatusOr<int> exit_code = main.process->AwaitExit(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

TEST(JsonLogTest, EveryLineOfBothProgramsIsAnObjectWithTheFixedKeys) {
  ServiceProcess work =
      StartWorkServiceOrFail({"--log_format=json", "--threads=1"});
  ASSERT_NE(work.process, nullptr);
  ServiceProcess main =
      StartMainServiceOrFail({"--log_format=json", "--log_calls=all",
                              absl::StrCat("--work_address=", work.address)});
  ASSERT_NE(main.process, nullptr);
  // Main first: its shared session to work ends as main stops.
  OneGoodAndOneRefusedRunThenStop(main);
  work.process->Signal(SIGTERM);
  absl::StatusOr<int> work_exit = work.process->AwaitExit(absl::Seconds(30));
  ASSERT_TRUE(work_exit.ok()) << work_exit.status();
  EXPECT_EQ(*work_exit, 0);

  const std::vector<std::string> main_events =
      JsonEvents(main.process->output(), "main_service");
  for (const char* event : {"start", "replicas", "listening", "call_end",
                            "drain_start", "drain_end", "links_closed"}) {
    EXPECT_TRUE(Has(main_events, event)) << "main_service logged no " << event;
  }
  const std::vector<std::string> work_events =
      JsonEvents(work.process->output(), "work_service");
  for (const char* event :
       {"start", "listening", "session_end", "drain_start", "drain_end"}) {
    EXPECT_TRUE(Has(work_events, event)) << "work_service logged no " << event;
  }
  // One line per call (two calls), none per unit.
  int calls = 0;
  for (const std::string& e : main_events) calls += e == "call_end";
  EXPECT_EQ(calls, 2);
}

// The call_end lines main_service wrote in `output` (text format).
std::vector<std::string> CallEndLines(const std::string& output) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StrContains(line, "main_service: Run from")) {
      lines.emplace_back(line);
    }
  }
  return lines;
}

// One OK Run and one refused (no keys) under each --log_calls: all logs both,
// failed (the default) only the refused one, none neither; the metrics count
// both either way.
TEST(JsonLogTest, LogCallsChoosesWhichCallsAreLogged) {
  ServiceProcess work = StartWorkServiceOrFail({"--threads=1"});
  ASSERT_NE(work.process, nullptr);
  struct Case {
    std::vector<std::string> flags;
    size_t lines;
  };
  for (const Case& c :
       {Case{{"--log_calls=all"}, 2}, Case{{}, 1},
        Case{{"--log_calls=failed"}, 1}, Case{{"--log_calls=none"}, 0}}) {
    SCOPED_TRACE(absl::StrJoin(c.flags, " "));
    std::vector<std::string> flags = c.flags;
    flags.push_back(absl::StrCat("--work_address=", work.address));
    ServiceProcess main = StartMainServiceOrFail(flags);
    ASSERT_NE(main.process, nullptr);
    OneGoodAndOneRefusedRunThenStop(main);
    const std::vector<std::string> lines = CallEndLines(main.process->output());
    EXPECT_EQ(lines.size(), c.lines) << main.process->output();
    if (c.lines == 1) {
      EXPECT_THAT(lines[0], HasSubstr("INVALID_ARGUMENT"));
    } else if (c.lines == 2) {
      EXPECT_THAT(lines[0], HasSubstr("3 keys, 3 values"));
    }
  }
}

TEST(JsonLogTest, AnUnknownLogCallsValueStopsTheProgram) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = StartTestProcess(
      ::pieces::testing::MainServiceBinary(), {"--port=0", "--log_calls=some"});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> exit_code = (*process)->AwaitExit(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 2);
  EXPECT_THAT((*process)->output(),
              HasSubstr("--log_calls is 'some'; give all, failed or none"));
}

}  // namespace
}  // namespace pieces
