// A program started by a test, such as work_service on a free port.
//
// The program's stdout and stderr are read on a background thread, kept for
// the test to search and mirrored to the test's stderr with a prefix. The
// destructor kills the program (SIGKILL) if it still runs, so a failed test
// leaves nothing behind.
//
// Thread safety: all methods may be called from any thread.
#ifndef PIECES_TESTS_TESTING_TEST_PROCESS_H_
#define PIECES_TESTS_TESTING_TEST_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pieces::testing {

class TestProcess {
 public:
  // Starts `path` with `args` (not counting argv[0]).
  static absl::StatusOr<std::unique_ptr<TestProcess>> Start(
      const std::string& path, const std::vector<std::string>& args);

  ~TestProcess();

  // Waits until the output contains `text`; false on timeout or exit.
  bool AwaitOutput(absl::string_view text, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits for the "listening on 0.0.0.0:PORT" line the services print and
  // returns PORT.
  absl::StatusOr<int> AwaitPort(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Sends `signal` to the program.
  void Signal(int signal);

  // Waits for the program to exit; returns its exit code, or 128 + the
  // signal that killed it. DEADLINE_EXCEEDED if it still runs at `timeout`.
  absl::StatusOr<int> AwaitExit(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Everything the program printed so far.
  std::string output() const ABSL_LOCKS_EXCLUDED(mu_);

  pid_t pid() const { return pid_; }

 private:
  TestProcess(pid_t pid, int output_fd, std::string name);
  void ReadOutput();

  // Constant after construction.
  const pid_t pid_;
  const int output_fd_;
  const std::string name_;

  mutable absl::Mutex mu_;
  // Signalled when output_ grows or output_closed_ becomes true.
  absl::CondVar output_changed_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool output_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  int exit_code_ ABSL_GUARDED_BY(mu_) = -1;

  std::thread reader_;
};

// A service binary of this project, started on a free port.
struct ServiceProcess {
  std::unique_ptr<TestProcess> process;
  int port = 0;
  // "localhost:PORT", for a channel.
  std::string address;
};

// Starts work_service (main_service) with `flags` plus --port=0 unless
// `flags` sets a port, and waits until it listens.
absl::StatusOr<ServiceProcess> StartWorkService(std::vector<std::string> flags);
absl::StatusOr<ServiceProcess> StartMainService(std::vector<std::string> flags);

// The same for GoogleTest tests: a service that cannot start records a test
// failure, and an empty ServiceProcess comes back.
ServiceProcess StartWorkServiceOrFail(std::vector<std::string> flags);
ServiceProcess StartMainServiceOrFail(std::vector<std::string> flags);

// The paths of this build's work_service and main_service, for tests that
// start them with TestProcess::Start, e.g. to see them refuse to start.
std::string WorkServiceBinary();
std::string MainServiceBinary();

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_TEST_PROCESS_H_
