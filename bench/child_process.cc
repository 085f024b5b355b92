#include "child_process.h"

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

namespace pieces::bench {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::string& path, const std::vector<std::string>& args,
    bool verbose) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  std::vector<std::string> argv_strings = {path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // The benchmark is already gone.
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(path.c_str(), argv.data(), environ);
    _exit(127);
  }
  close(fds[1]);
  std::string name = path.substr(path.find_last_of('/') + 1);
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(pid, fds[0], std::move(name), verbose));
}

ChildProcess::ChildProcess(pid_t pid, int output_fd, std::string name,
                           bool verbose)
    : pid_(pid),
      output_fd_(output_fd),
      name_(std::move(name)),
      verbose_(verbose) {
  reader_ = std::thread([this] { ReadOutput(); });
}

ChildProcess::~ChildProcess() {
  kill(pid_, SIGTERM);
  // The services drain for --grace_period (1s here); give them a little more.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  reader_.join();
  close(output_fd_);
}

void ChildProcess::ReadOutput() {
  char buffer[4096];
  std::string line;
  while (true) {
    ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (verbose_) {
      line.append(buffer, static_cast<size_t>(n));
      size_t newline;
      while ((newline = line.find('\n')) != std::string::npos) {
        fprintf(stderr, "[%s %d] %s\n", name_.c_str(), pid_,
                line.substr(0, newline).c_str());
        line.erase(0, newline + 1);
      }
    }
    {
      absl::MutexLock lock(&mu_);
      output_.append(buffer, static_cast<size_t>(n));
    }
    output_changed_.SignalAll();
  }
  {
    absl::MutexLock lock(&mu_);
    output_closed_ = true;
  }
  output_changed_.SignalAll();
}

absl::StatusOr<int> ChildProcess::AwaitPort(absl::Duration timeout) {
  constexpr char kListening[] = "listening on 0.0.0.0:";
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!output_closed_ && !absl::StrContains(output_, kListening)) {
    if (output_changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  const size_t at = output_.find(kListening);
  if (at == std::string::npos) {
    return absl::DeadlineExceededError(absl::StrCat(
        name_, " did not start listening; it printed:\n", output_));
  }
  const size_t start = at + sizeof(kListening) - 1;
  const size_t end = output_.find_first_not_of("0123456789", start);
  int port = 0;
  if (!absl::SimpleAtoi(output_.substr(start, end - start), &port)) {
    return absl::InternalError(absl::StrCat("cannot read the port of ", name_));
  }
  return port;
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

absl::StatusOr<Service> StartService(const std::string& path,
                                     std::vector<std::string> flags,
                                     bool verbose) {
  flags.push_back("--port=0");
  flags.push_back("--grace_period=1s");
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(path, flags, verbose);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> port = (*process)->AwaitPort(absl::Seconds(20));
  if (!port.ok()) return port.status();
  Service service;
  service.process = *std::move(process);
  service.port = *port;
  service.address = absl::StrCat("localhost:", *port);
  return service;
}

}  // namespace pieces::bench
