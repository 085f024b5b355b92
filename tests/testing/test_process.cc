#include "tests/testing/test_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace pieces::testing {

absl::StatusOr<std::unique_ptr<TestProcess>> TestProcess::Start(
    const std::string& path, const std::vector<std::string>& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);

  std::vector<std::string> argv_strings = {path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // The test binary may block signals; the child must start with none blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  pid_t pid = 0;
  int error = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(),
                          environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (error != 0) {
    close(fds[0]);
    return absl::InternalError(
        absl::StrCat("cannot start ", path, ": ", strerror(error)));
  }
  std::string name = path.substr(path.find_last_of('/') + 1);
  return std::unique_ptr<TestProcess>(
      new TestProcess(pid, fds[0], std::move(name)));
}

TestProcess::TestProcess(pid_t pid, int output_fd, std::string name)
    : pid_(pid), output_fd_(output_fd), name_(std::move(name)) {
  reader_ = std::thread([this] { ReadOutput(); });
}

TestProcess::~TestProcess() {
  bool reaped;
  {
    absl::MutexLock lock(&mu_);
    reaped = reaped_;
  }
  if (!reaped) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  reader_.join();
  close(output_fd_);
}

void TestProcess::ReadOutput() {
  char buffer[4096];
  std::string line;
  while (true) {
    ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::string_view chunk(buffer, static_cast<size_t>(n));
    // Mirror whole lines, prefixed, so that interleaved output stays legible.
    line.append(chunk.data(), chunk.size());
    size_t newline;
    while ((newline = line.find('\n')) != std::string::npos) {
      fprintf(stderr, "[%s %d] %s\n", name_.c_str(), pid_,
              line.substr(0, newline).c_str());
      line.erase(0, newline + 1);
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

bool TestProcess::AwaitOutput(absl::string_view text, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!output_closed_ && !absl::StrContains(output_, text)) {
    if (output_changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return absl::StrContains(output_, text);
}

absl::StatusOr<int> TestProcess::AwaitPort(absl::Duration timeout) {
  constexpr char kListening[] = "listening on 0.0.0.0:";
  if (!AwaitOutput(kListening, timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat(name_, " did not start listening; it printed:\n", output()));
  }
  absl::MutexLock lock(&mu_);
  size_t start = output_.find(kListening) + sizeof(kListening) - 1;
  size_t end = output_.find_first_not_of("0123456789", start);
  int port = 0;
  if (!absl::SimpleAtoi(output_.substr(start, end - start), &port)) {
    return absl::InternalError("cannot read the port");
  }
  return port;
}

void TestProcess::Signal(int signal) { kill(pid_, signal); }

absl::StatusOr<int> TestProcess::AwaitExit(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (reaped_) return exit_code_;
  // The program's exit closes its end of the output pipe (children of the
  // services do not exist), which is the signal this waits for.
  const absl::Time deadline = absl::Now() + timeout;
  while (!output_closed_) {
    if (output_changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  if (!output_closed_) {
    return absl::DeadlineExceededError(
        absl::StrCat(name_, " still runs after ", absl::FormatDuration(timeout)));
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
  return exit_code_;
}

std::string TestProcess::output() const {
  absl::MutexLock lock(&mu_);
  return output_;
}

namespace {

absl::StatusOr<ServiceProcess> StartService(const std::string& path,
                                            std::vector<std::string> flags) {
  bool has_port = false;
  for (const std::string& flag : flags) {
    has_port = has_port || absl::StartsWith(flag, "--port=");
  }
  if (!has_port) flags.push_back("--port=0");
  absl::StatusOr<std::unique_ptr<TestProcess>> process =
      TestProcess::Start(path, flags);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> port = (*process)->AwaitPort(absl::Seconds(20));
  if (!port.ok()) return port.status();
  ServiceProcess service;
  service.process = *std::move(process);
  service.port = *port;
  service.address = absl::StrCat("localhost:", *port);
  return service;
}

}  // namespace

absl::StatusOr<ServiceProcess> StartWorkService(std::vector<std::string> flags) {
  return StartService(WorkServiceBinary(), std::move(flags));
}

absl::StatusOr<ServiceProcess> StartMainService(std::vector<std::string> flags) {
  return StartService(MainServiceBinary(), std::move(flags));
}

std::string WorkServiceBinary() { return PIECES_WORK_SERVICE_BIN; }
std::string MainServiceBinary() { return PIECES_MAIN_SERVICE_BIN; }

namespace {

ServiceProcess OrFail(absl::StatusOr<ServiceProcess> service) {
  if (!service.ok()) {
    ADD_FAILURE() << service.status();
    return ServiceProcess();
  }
  return *std::move(service);
}

}  // namespace

ServiceProcess StartWorkServiceOrFail(std::vector<std::string> flags) {
  return OrFail(StartWorkService(std::move(flags)));
}

ServiceProcess StartMainServiceOrFail(std::vector<std::string> flags) {
  return OrFail(StartMainService(std::move(flags)));
}

}  // namespace pieces::testing
