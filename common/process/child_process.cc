#include "common/process/child_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace pieces {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::string& path, const std::vector<std::string>& args,
    const ChildProcessOptions& options) {
  // `output` carries the program's stdout and stderr; `exec_error` the errno
  // of a failed execve, and closes (CLOEXEC) when execve succeeds.
  int output[2];
  if (pipe2(output, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  int exec_error[2];
  if (pipe2(exec_error, O_CLOEXEC) != 0) {
    const int error = errno;
    close(output[0]);
    close(output[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(error)));
  }
  std::vector<std::string> argv_strings = {path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    for (int fd : {output[0], output[1], exec_error[0], exec_error[1]}) {
      close(fd);
    }
    return absl::InternalError(absl::StrCat("fork: ", strerror(error)));
  }
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    if (options.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // The parent is already gone.
    }
    dup2(output[1], STDOUT_FILENO);
    dup2(output[1], STDERR_FILENO);
    // The parent may block signals; the program must start with none blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(path.c_str(), argv.data(), environ);
    const int error = errno;
    ssize_t written = write(exec_error[1], &error, sizeof(error));
    (void)written;  // Nothing more to do if it fails.
    _exit(127);
  }
  close(output[1]);
  close(exec_error[1]);
  int error = 0;
  ssize_t n;
  do {
    n = read(exec_error[0], &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  close(exec_error[0]);
  if (n == static_cast<ssize_t>(sizeof(error))) {
    waitpid(pid, nullptr, 0);
    close(output[0]);
    return absl::InternalError(
        absl::StrCat("cannot start ", path, ": ", strerror(error)));
  }
  std::string name = path.substr(path.find_last_of('/') + 1);
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(pid, output[0], std::move(name), options));
}

ChildProcess::ChildProcess(pid_t pid, int output_fd, std::string name,
                           const ChildProcessOptions& options)
    : pid_(pid),
      output_fd_(output_fd),
      name_(std::move(name)),
      options_(options) {
  reader_ = std::thread([this] { ReadOutput(); });
}

ChildProcess::~ChildProcess() {
  ChildExit exit;
  exit.exit_code = Stop();
  reader_.join();
  close(output_fd_);
  if (options_.on_exit) {
    {
      absl::MutexLock lock(&mu_);
      exit.expected = killed_by_owner_ || exit_seen_by_owner_;
    }
    options_.on_exit(*this, exit);
  }
}

absl::StatusOr<int> ChildProcess::Stop() {
  absl::MutexLock lock(&mu_);
  if (reaped_) return exit_code_;
  if (options_.stop_timeout > absl::ZeroDuration()) {
    kill(pid_, SIGTERM);
    absl::StatusOr<int> exit_code = Reap(options_.stop_timeout);
    if (exit_code.ok()) return exit_code;
  }
  kill(pid_, SIGKILL);
  absl::StatusOr<int> killed = Reap(absl::InfiniteDuration());
  if (options_.stop_timeout > absl::ZeroDuration()) {
    return absl::DeadlineExceededError(absl::StrCat(
        name_, " did not exit within ",
        absl::FormatDuration(options_.stop_timeout), " of SIGTERM; killed it"));
  }
  return killed;
}

absl::StatusOr<int> ChildProcess::Reap(absl::Duration timeout) {
  if (reaped_) return exit_code_;
  // The program's exit closes its end of the output pipe (children of the
  // services do not exist), which is the signal this waits for.
  const absl::Time deadline = absl::Now() + timeout;
  while (!output_closed_) {
    if (output_changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  if (!output_closed_) {
    return absl::DeadlineExceededError(absl::StrCat(
        name_, " still runs after ", absl::FormatDuration(timeout)));
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

void ChildProcess::ReadOutput() {
  char buffer[4096];
  std::string line;
  while (true) {
    ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::string_view chunk(buffer, static_cast<size_t>(n));
    if (options_.mirror_output) {
      // Whole lines only, so that lines of several programs do not mix.
      line.append(chunk.data(), chunk.size());
      size_t newline;
      while ((newline = line.find('\n')) != std::string::npos) {
        fprintf(stderr, "[%s %d] %s\n", name_.c_str(), pid_,
                line.substr(0, newline).c_str());
        line.erase(0, newline + 1);
      }
    }
    {
      absl::MutexLock lock(&mu_);
      output_.append(chunk.data(), chunk.size());
    }
    output_changed_.SignalAll();
  }
  {
    absl::MutexLock lock(&mu_);
    output_closed_ = true;
  }
  output_changed_.SignalAll();
}

bool ChildProcess::AwaitOutput(absl::string_view text, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!output_closed_ && !absl::StrContains(output_, text)) {
    if (output_changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return absl::StrContains(output_, text);
}

absl::StatusOr<int> ChildProcess::AwaitPort(absl::Duration timeout) {
  constexpr char kListening[] = "listening on 0.0.0.0:";
  if (!AwaitOutput(kListening, timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        name_, " did not start listening; it printed:\n", output()));
  }
  absl::MutexLock lock(&mu_);
  const size_t start = output_.find(kListening) + sizeof(kListening) - 1;
  const size_t end = output_.find_first_not_of("0123456789", start);
  int port = 0;
  if (!absl::SimpleAtoi(output_.substr(start, end - start), &port)) {
    return absl::InternalError(absl::StrCat("cannot read the port of ", name_));
  }
  return port;
}

void ChildProcess::Signal(int signal) {
  absl::MutexLock lock(&mu_);
  if (reaped_) return;  // The pid may be another program's by now.
  if (signal == SIGKILL) killed_by_owner_ = true;
  kill(pid_, signal);
}

absl::StatusOr<int> ChildProcess::AwaitExit(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<int> exit_code = Reap(timeout);
  if (exit_code.ok()) exit_seen_by_owner_ = true;
  return exit_code;
}

std::string ChildProcess::output() const {
  absl::MutexLock lock(&mu_);
  return output_;
}

absl::StatusOr<int64_t> ChildProcess::ResidentBytes() const {
  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    if (!absl::ConsumeSuffix(&rest, "kB")) break;
    int64_t kilobytes = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kilobytes)) break;
    return kilobytes * 1024;
  }
  return absl::InternalError(
      absl::StrCat("cannot read VmRSS of ", name_, " (pid ", pid_, ")"));
}

absl::StatusOr<ChildProcess::Usage> ChildProcess::ReadUsage() const {
  Usage usage;
  {
    std::ifstream stat(absl::StrCat("/proc/", pid_, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)),
                     std::istreambuf_iterator<char>());
    // The fields after the command name, which is in parentheses and may
    // hold spaces: state is field 3, utime 14 and stime 15.
    const size_t close = text.rfind(')');
    if (close == std::string::npos) {
      return absl::InternalError(
          absl::StrCat("cannot read /proc/", pid_, "/stat"));
    }
    std::vector<absl::string_view> fields = absl::StrSplit(
        absl::string_view(text).substr(close + 2), ' ', absl::SkipEmpty());
    int64_t utime = 0, stime = 0;
    if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
        !absl::SimpleAtoi(fields[12], &stime)) {
      return absl::InternalError(
          absl::StrCat("cannot read /proc/", pid_, "/stat"));
    }
    const long ticks = sysconf(_SC_CLK_TCK);
    usage.cpu = absl::Seconds(static_cast<double>(utime + stime) /
                              static_cast<double>(ticks > 0 ? ticks : 100));
  }
  const std::string tasks = absl::StrCat("/proc/", pid_, "/task");
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) {
    return absl::InternalError(absl::StrCat("cannot list ", tasks));
  }
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream status(absl::StrCat(tasks, "/", entry->d_name, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      absl::string_view rest = line;
      if (!absl::ConsumePrefix(&rest, "voluntary_ctxt_switches:") &&
          !absl::ConsumePrefix(&rest, "nonvoluntary_ctxt_switches:")) {
        continue;
      }
      uint64_t count = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &count)) {
        usage.context_switches += count;
      }
    }
  }
  closedir(dir);
  return usage;
}

absl::StatusOr<ServiceProcess> StartService(
    const std::string& path, std::vector<std::string> flags,
    const ChildProcessOptions& options) {
  bool has_port = false;
  for (const std::string& flag : flags) {
    has_port = has_port || absl::StartsWith(flag, "--port=");
  }
  if (!has_port) flags.push_back("--port=0");
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(path, flags, options);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> port = (*process)->AwaitPort(absl::Seconds(20));
  if (!port.ok()) return port.status();
  ServiceProcess service;
  service.process = *std::move(process);
  service.port = *port;
  service.address = absl::StrCat("localhost:", *port);
  return service;
}

}  // namespace pieces
