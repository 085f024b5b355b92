// A program the benchmark starts, such as work_service on a free port.
//
// Like tests/testing/test_process.h, but on its own so that the benchmark
// builds without the tests. The program's stdout and stderr are read on a
// background thread and kept (mirrored to stderr with a prefix when
// `verbose`); the program is told to die with the benchmark (PDEATHSIG), and
// the destructor stops it (SIGTERM, then SIGKILL after a few seconds).
//
// Thread safety: Start() must be called from the main thread (PDEATHSIG
// follows the thread that started the child); the other methods from any.
#ifndef PIECES_BENCH_CHILD_PROCESS_H_
#define PIECES_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pieces::bench {

class ChildProcess {
 public:
  // Starts `path` with `args` (not counting argv[0]).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::string& path, const std::vector<std::string>& args,
      bool verbose);

  ~ChildProcess();

  // Waits for the "listening on 0.0.0.0:PORT" line and returns PORT.
  absl::StatusOr<int> AwaitPort(absl::Duration timeout)
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
  const std::string& name() const { return name_; }

 private:
  ChildProcess(pid_t pid, int output_fd, std::string name, bool verbose);
  void ReadOutput();

  // Constant after construction.
  const pid_t pid_;
  const int output_fd_;
  const std::string name_;
  const bool verbose_;

  mutable absl::Mutex mu_;
  absl::CondVar output_changed_;  // Signalled when output_ grows or closes.
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool output_closed_ ABSL_GUARDED_BY(mu_) = false;

  std::thread reader_;
};

// A service started on a free port, and the address to reach it.
struct Service {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string address;  // "localhost:PORT"
};

// Starts `path` with `flags` plus --port=0 and --grace_period=1s, and waits
// until it listens.
absl::StatusOr<Service> StartService(const std::string& path,
                                     std::vector<std::string> flags,
                                     bool verbose);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_CHILD_PROCESS_H_
