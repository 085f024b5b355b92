#include "tests/testing/test_process.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace pieces::testing {
namespace {

// Long enough for a service to drain a session a test left open (the
// default --grace_period is 10 s) under a sanitizer on two busy cores.
constexpr absl::Duration kStopTimeout = absl::Seconds(60);

// The line every sanitizer prints once per report ("SUMMARY: AddressSanitizer:
// 4096 byte(s) leaked ...", "SUMMARY: ThreadSanitizer: data race ...", and
// UBSan's "SUMMARY: UndefinedBehaviorSanitizer: ...").
bool HasSanitizerReport(absl::string_view output) {
  for (absl::string_view marker :
       {"SUMMARY: AddressSanitizer", "SUMMARY: LeakSanitizer",
        "SUMMARY: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer",
        "SUMMARY: MemorySanitizer"}) {
    if (absl::StrContains(output, marker)) return true;
  }
  return false;
}

// Fails the running test if `process` printed a sanitizer report, or ended
// other than with exit code 0 when nobody expected it to.
void CheckExit(const ChildProcess& process, const ChildExit& exit) {
  std::string problems;
  if (!exit.exit_code.ok()) {
    absl::StrAppend(&problems, exit.exit_code.status().message(), "; ");
  } else if (*exit.exit_code != 0 && !exit.expected) {
    absl::StrAppend(&problems, "exited with ", *exit.exit_code, "; ");
  }
  const std::string output = process.output();
  if (HasSanitizerReport(output)) {
    absl::StrAppend(&problems, "a sanitizer reported a problem; ");
  }
  if (problems.empty()) return;
  ADD_FAILURE() << process.name() << " (pid " << process.pid()
                << "): " << problems << "it printed:\n"
                << output;
}

ChildProcessOptions TestOptions() {
  ChildProcessOptions options;
  options.mirror_output = true;
  options.stop_timeout = kStopTimeout;
  options.on_exit = CheckExit;
  return options;
}

ServiceProcess OrFail(absl::StatusOr<ServiceProcess> service) {
  if (!service.ok()) {
    ADD_FAILURE() << service.status();
    return ServiceProcess();
  }
  return *std::move(service);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> StartTestProcess(
    const std::string& path, const std::vector<std::string>& args) {
  return ChildProcess::Start(path, args, TestOptions());
}

absl::StatusOr<ServiceProcess> StartTestService(
    const std::string& path, std::vector<std::string> flags) {
  return StartService(path, std::move(flags), TestOptions());
}

namespace {

// Tests start many services at once: none serves /metrics unless its test
// asks for it (on a free port), so that none takes the default port.
std::vector<std::string> WithoutMetrics(std::vector<std::string> flags) {
  for (const std::string& flag : flags) {
    if (absl::StartsWith(flag, "--metrics_port=")) return flags;
  }
  flags.push_back("--metrics_port=0");
  return flags;
}

}  // namespace

absl::StatusOr<ServiceProcess> StartWorkService(
    std::vector<std::string> flags) {
  return StartTestService(WorkServiceBinary(),
                          WithoutMetrics(std::move(flags)));
}

absl::StatusOr<ServiceProcess> StartMainService(
    std::vector<std::string> flags) {
  return StartTestService(MainServiceBinary(),
                          WithoutMetrics(std::move(flags)));
}

std::string WorkServiceBinary() { return PIECES_WORK_SERVICE_BIN; }
std::string MainServiceBinary() { return PIECES_MAIN_SERVICE_BIN; }

ServiceProcess StartWorkServiceOrFail(std::vector<std::string> flags) {
  return OrFail(StartWorkService(std::move(flags)));
}

ServiceProcess StartMainServiceOrFail(std::vector<std::string> flags) {
  return OrFail(StartMainService(std::move(flags)));
}

}  // namespace pieces::testing
