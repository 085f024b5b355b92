#include "tests/testing/test_process.h"

#include <utility>

#include "gtest/gtest.h"

namespace pieces::testing {
namespace {

ChildProcessOptions TestOptions() {
  ChildProcessOptions options;
  options.mirror_output = true;
  return options;  // Killed at once when it goes.
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

absl::StatusOr<ServiceProcess> StartWorkService(std::vector<std::string> flags) {
  return StartService(WorkServiceBinary(), std::move(flags), TestOptions());
}

absl::StatusOr<ServiceProcess> StartMainService(std::vector<std::string> flags) {
  return StartService(MainServiceBinary(), std::move(flags), TestOptions());
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
