// pieces: the command-line client of main_service. See README.md ("The
// pieces client") and client/commands.h.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/credentials.h"
#include "client/flag_check.h"
#include "client/keys.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, address, "localhost:50051",
          "Where main_service listens: host:port");
ABSL_FLAG(absl::Duration, deadline, absl::InfiniteDuration(),
          "The call's deadline, e.g. 30s. run: none by default (inf); stats "
          "and watch: 10s per call by default");
ABSL_FLAG(bool, json, false,
          "run: print each result as a line of JSON on stdout (id, key, "
          "value, performed, waited, error); the summary goes to stderr");
ABSL_FLAG(bool, print, false,
          "run: print each result as a line of text on stdout; the summary "
          "goes to stderr");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1),
          "watch: time between refreshes");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle: reach main_service over TLS and verify its "
          "certificate against this CA");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate chain shown to main_service (mutual TLS); "
          "needs --tls_key and --tls_ca");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");

namespace {

constexpr char kUsage[] =
    "The command-line client of pieces' main_service.\n"
    "Usage:\n"
    "  pieces run KEYS... [--json | --print] [--deadline=DURATION]\n"
    "      KEYS: numbers (7), ranges (1-100000), @FILE (keys and ranges\n"
    "      separated by whitespace; @- reads standard input)\n"
    "  pieces stats\n"
    "  pieces watch [--interval=1s]\n"
    "Every command: [--address=localhost:50051]\n"
    "               [--tls_ca=FILE [--tls_cert=FILE --tls_key=FILE]]\n"
    "Exit codes: 0 every result OK, 1 some results failed, 2 bad usage,\n"
    "3 the call failed.";

int UsageError(const std::string& message) {
  absl::FPrintF(stderr, "pieces: %s\nRun pieces --help for usage.\n", message);
  return pieces::client::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  using ::pieces::client::kExitUsage;
  absl::SetProgramUsageMessage(kUsage);
  // --help lists the flags of this file (absl's default looks for a file
  // named after the program).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "client/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  const std::vector<std::string> raw_args(argv + 1, argv + argc);
  if (absl::Status flags = pieces::client::CheckFlags(raw_args); !flags.ok()) {
    return UsageError(std::string(flags.message()));
  }
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    return UsageError("give a command: run, stats or watch");
  }
  const std::string command = positional[1];
  const std::vector<std::string> args(positional.begin() + 2, positional.end());
  const bool json = absl::GetFlag(FLAGS_json);
  const bool print = absl::GetFlag(FLAGS_print);
  if (json && print) return UsageError("--json and --print exclude each other");
  if (command != "run" && (json || print)) {
    return UsageError("--json and --print are for pieces run");
  }
  if (command != "run" && !args.empty()) {
    return UsageError(
        absl::StrFormat("%s takes no arguments, got '%s'", command, args[0]));
  }
  const absl::Duration deadline = absl::GetFlag(FLAGS_deadline);
  if (deadline <= absl::ZeroDuration()) {
    return UsageError("--deadline must be above zero");
  }

  // Blocked before the channel's threads start, so that they inherit the
  // mask and Watch alone takes these signals (client/commands.h).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (command == "watch") pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string address = absl::GetFlag(FLAGS_address);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      pieces::client::MakeClientCredentials({absl::GetFlag(FLAGS_tls_cert),
                                             absl::GetFlag(FLAGS_tls_key),
                                             absl::GetFlag(FLAGS_tls_ca)});
  if (!credentials.ok()) {
    return UsageError(std::string(credentials.status().message()));
  }

  pieces::client::StatsOptions stats;
  stats.address = address;
  if (deadline != absl::InfiniteDuration()) stats.deadline = deadline;

  if (command == "run") {
    absl::StatusOr<std::vector<uint64_t>> keys =
        pieces::client::ParseKeys(args);
    if (!keys.ok()) return UsageError(std::string(keys.status().message()));
    pieces::client::RunOptions options;
    options.keys = *std::move(keys);
    options.address = address;
    options.deadline = deadline;
    options.results = json ? pieces::client::RunOptions::Results::kJson
                      : print
                          ? pieces::client::RunOptions::Results::kText
                          : pieces::client::RunOptions::Results::kSummaryOnly;
    // The progress line goes to stderr, and only when it is a terminal that
    // the results themselves are not printed on.
    options.progress =
        isatty(STDERR_FILENO) && !((json || print) && isatty(STDOUT_FILENO));
    auto stub = pieces::v1::MainService::NewStub(
        grpc::CreateChannel(address, *credentials));
    return pieces::client::RunKeys(*stub, options, {});
  }
  if (command == "stats") {
    auto stub = pieces::v1::MainService::NewStub(
        grpc::CreateChannel(address, *credentials));
    return pieces::client::ShowStats(*stub, stats, {});
  }
  if (command == "watch") {
    pieces::client::WatchOptions options;
    options.stats = stats;
    options.interval = absl::GetFlag(FLAGS_interval);
    if (options.interval <= absl::ZeroDuration() ||
        options.interval == absl::InfiniteDuration()) {
      return UsageError("--interval must be a finite duration above zero");
    }
    options.terminal = isatty(STDOUT_FILENO);
    options.stop_signals = stop_signals;
    auto stub = pieces::v1::MainService::NewStub(
        grpc::CreateChannel(address, *credentials));
    return pieces::client::Watch(*stub, options, {});
  }
  return UsageError(absl::StrFormat(
      "unknown command '%s': expected run, stats or watch", command));
}
