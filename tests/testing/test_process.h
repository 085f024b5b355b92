// Starting programs from tests: this build's work_service and main_service on
// free ports, and other programs (such as openssl), with ChildProcess
// (common/process/child_process.h).
//
// A test's programs mirror their output to the test's stderr with a prefix.
// When its ChildProcess goes, a program that still runs gets SIGTERM (the
// services drain and exit 0) and, after 60 s, SIGKILL. Then the test that
// started it fails if the program
//   - printed a sanitizer report (ASan, LSan at exit, UBSan, TSan), or
//   - ended other than with exit code 0, unless the test sent it SIGKILL or
//     read its exit code with AwaitExit (and so checked it itself), or
//   - had to be killed because it did not exit within 60 s of SIGTERM.
// So a leak, a race or a crash in a service fails the test that started it,
// also when it shows after the test's last call.
//
// Thread safety: the functions may be called from any thread.
#ifndef PIECES_TESTS_TESTING_TEST_PROCESS_H_
#define PIECES_TESTS_TESTING_TEST_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process/child_process.h"

namespace pieces::testing {

// Starts `path` with `args` (not counting argv[0]) the way tests do.
absl::StatusOr<std::unique_ptr<ChildProcess>> StartTestProcess(
    const std::string& path, const std::vector<std::string>& args);

// Starts the service at `path` the way tests do (see above), with `flags`
// plus --port=0 unless `flags` sets a port, and waits until it listens.
absl::StatusOr<ServiceProcess> StartTestService(const std::string& path,
                                                std::vector<std::string> flags);

// Starts work_service (main_service) with `flags` plus --port=0 unless
// `flags` sets a port, and waits until it listens. It serves no /metrics
// unless `flags` sets --metrics_port (--metrics_port=0 is added).
absl::StatusOr<ServiceProcess> StartWorkService(std::vector<std::string> flags);
absl::StatusOr<ServiceProcess> StartMainService(std::vector<std::string> flags);

// The same for GoogleTest tests: a service that cannot start records a test
// failure, and an empty ServiceProcess comes back.
ServiceProcess StartWorkServiceOrFail(std::vector<std::string> flags);
ServiceProcess StartMainServiceOrFail(std::vector<std::string> flags);

// The paths of this build's work_service and main_service, for tests that
// start them with StartTestProcess, e.g. to see them refuse to start.
std::string WorkServiceBinary();
std::string MainServiceBinary();

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_TEST_PROCESS_H_
