// A program started by another one (a test, the benchmark), such as
// work_service on a free port.
//
// The program's stdout and stderr are read on a background thread and kept,
// for the caller to search (AwaitOutput, AwaitPort, output()), and mirrored to
// this process's stderr with a "[name pid] " prefix when asked. When the
// ChildProcess goes, it stops the program if it still runs: at once with
// SIGKILL, or first with SIGTERM and SIGKILL only after a time (see
// ChildProcessOptions), so that nothing is left behind, and then tells
// on_exit how the program ended (tests fail on a crash or a sanitizer
// report there).
//
//   ChildProcessOptions options;
//   options.mirror_output = true;
//   absl::StatusOr<ServiceProcess> work =
//       StartService("/path/to/work_service", {"--work=echo"}, options);
//   if (!work.ok()) return work.status();
//   ... talk to work->address ...
//   work->process->Signal(SIGTERM);
//   absl::StatusOr<int> exit_code =
//   work->process->AwaitExit(absl::Seconds(10));
//
// Linux only: die_with_parent is PR_SET_PDEATHSIG, and ResidentBytes() and
// ReadUsage() read /proc.
//
// Thread safety: all methods may be called from any thread. With
// die_with_parent, though, the program dies when the thread that started it
// exits: start such programs from the main thread.
#ifndef PIECES_COMMON_PROCESS_CHILD_PROCESS_H_
#define PIECES_COMMON_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pieces {

class ChildProcess;

// How a program ended, for ChildProcessOptions::on_exit.
struct ChildExit {
  // Its exit code, or 128 + the signal that killed it; DEADLINE_EXCEEDED if
  // it did not exit within stop_timeout of SIGTERM and had to be killed.
  absl::StatusOr<int> exit_code;
  // Whether its owner saw this coming: it sent SIGKILL, or AwaitExit
  // returned the exit code to it (and the owner checked it there).
  bool expected = false;
};

struct ChildProcessOptions {
  // Mirror each line the program prints to this process's stderr, prefixed
  // with "[name pid] ", so that interleaved output stays legible.
  bool mirror_output = false;
  // Have the kernel kill the program (SIGKILL) when the thread that started
  // it exits, so that a parent that crashes leaves nothing running.
  bool die_with_parent = false;
  // How a program that still runs when its ChildProcess goes is stopped:
  // SIGTERM, then SIGKILL if it still runs after this long. Zero: SIGKILL at
  // once.
  absl::Duration stop_timeout = absl::ZeroDuration();
  // Called by the destructor once the program has ended (stopped by the
  // destructor or not), with how it ended; output() is complete by then.
  // Tests use it to fail on a service that crashed, leaked or raced.
  std::function<void(const ChildProcess&, const ChildExit&)> on_exit;
};

class ChildProcess {
 public:
  // Starts `path` with `args` (not counting argv[0]), with no signal blocked
  // and this process's environment. An error if it cannot be started (e.g.
  // `path` is no executable).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::string& path, const std::vector<std::string>& args,
      const ChildProcessOptions& options);

  // Stops the program if it still runs (see ChildProcessOptions).
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until the output contains `text`; false on timeout or exit.
  bool AwaitOutput(absl::string_view text, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits for the "listening on 0.0.0.0:PORT" line the services print and
  // returns PORT.
  absl::StatusOr<int> AwaitPort(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Sends `signal` to the program.
  void Signal(int signal) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits for the program to exit; returns its exit code, or 128 + the
  // signal that killed it. DEADLINE_EXCEEDED if it still runs at `timeout`.
  absl::StatusOr<int> AwaitExit(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Everything the program printed so far.
  std::string output() const ABSL_LOCKS_EXCLUDED(mu_);

  // Resident memory (VmRSS from /proc/PID/status), in bytes.
  absl::StatusOr<int64_t> ResidentBytes() const;

  // What the program has used so far: CPU time (user + system, from
  // /proc/PID/stat, in clock ticks of 10 ms) and context switches (voluntary
  // and not, summed over its living threads from /proc/PID/task/*/status).
  struct Usage {
    absl::Duration cpu;
    uint64_t context_switches = 0;
  };
  absl::StatusOr<Usage> ReadUsage() const;

  pid_t pid() const { return pid_; }
  // The file name of the program, without its directory.
  const std::string& name() const { return name_; }

 private:
  ChildProcess(pid_t pid, int output_fd, std::string name,
               const ChildProcessOptions& options);
  void ReadOutput() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits up to `timeout` for the program to exit, and reaps it.
  absl::StatusOr<int> Reap(absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the program if it has not been reaped yet (see stop_timeout) and
  // reaps it; returns how it ended.
  absl::StatusOr<int> Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const pid_t pid_;
  const int output_fd_;
  const std::string name_;
  const ChildProcessOptions options_;

  mutable absl::Mutex mu_;
  // Signalled when output_ grows or output_closed_ becomes true.
  absl::CondVar output_changed_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool output_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  int exit_code_ ABSL_GUARDED_BY(mu_) = -1;
  // The owner sent SIGKILL; AwaitExit gave it the exit code.
  bool killed_by_owner_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_seen_by_owner_ ABSL_GUARDED_BY(mu_) = false;

  std::thread reader_;
};

// A service program of this project, started on a free port.
struct ServiceProcess {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  // "localhost:PORT", for a channel.
  std::string address;
};

// Starts the service at `path` with `flags`, plus --port=0 unless `flags`
// sets a port, and waits (up to 20 seconds) until it listens.
absl::StatusOr<ServiceProcess> StartService(const std::string& path,
                                            std::vector<std::string> flags,
                                            const ChildProcessOptions& options);

}  // namespace pieces

#endif  // PIECES_COMMON_PROCESS_CHILD_PROCESS_H_
