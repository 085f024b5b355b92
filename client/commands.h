// The pieces client's commands, each one call (or, for watch, a call per
// refresh) to MainService through `stub`, returning the program's exit code.
// main.cc turns the command line into these options.
//
// Exit codes: 0 every result OK, 1 some results failed, 2 bad usage (bad
// flags or keys: main.cc), 3 the call failed (its status code name and
// message go to stderr, naming the address).
//
// Each function is called from the program's main thread; RunKeys starts the
// progress line's thread and joins it before returning.
#ifndef PIECES_CLIENT_COMMANDS_H_
#define PIECES_CLIENT_COMMANDS_H_

#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pieces/v1/main_service.grpc.pb.h"

namespace pieces::client {

enum ExitCode : int {
  kExitOk = 0,
  kExitSomeFailed = 1,
  kExitUsage = 2,
  kExitCallFailed = 3,
};

// Where the commands write. The results (run --json, --print), the tables
// and the summary without --json/--print go to `out`; the progress line, the
// errors and the summary with --json/--print go to `err`, so that `out`
// holds only results when they are asked for.
struct Output {
  FILE* out = stdout;
  FILE* err = stderr;
};

struct RunOptions {
  enum class Results { kSummaryOnly, kJson, kText };

  std::vector<uint64_t> keys;
  // For messages: where main_service is.
  std::string address;
  // From the start of the call; infinite: none.
  absl::Duration deadline = absl::InfiniteDuration();
  Results results = Results::kSummaryOnly;
  // Draw the progress line on output.err (main.cc decides: on a terminal).
  bool progress = false;
};

// `pieces run`: RunStream with options.keys, each result printed as it
// comes (per options.results), then the summary. When the call fails, the
// summary of the results that came (if any) goes to output.err, then the
// status.
int RunKeys(v1::MainService::StubInterface& stub, const RunOptions& options,
            const Output& output);

struct StatsOptions {
  std::string address;
  // Each GetClusterStats call's deadline.
  absl::Duration deadline = absl::Seconds(10);
};

// `pieces stats`: GetClusterStats, as a table (client/stats_table.h).
int ShowStats(v1::MainService::StubInterface& stub, const StatsOptions& options,
              const Output& output);

struct WatchOptions {
  StatsOptions stats;
  // Time from one refresh to the next.
  absl::Duration interval = absl::Seconds(1);
  // Redraw in place (clear the screen, cursor home) rather than append.
  bool terminal = false;
  // The signals that end the watch with exit code 0 (SIGINT, SIGTERM). The
  // caller blocks them in every thread before calling (before creating the
  // channel, whose threads inherit the mask); Watch takes them with
  // sigtimedwait while it waits for the next refresh.
  sigset_t stop_signals;
};

// `pieces watch`: the stats table with rates, every options.interval, until
// one of options.stop_signals arrives; then 0. A failed call is shown in
// place of the table and the watch goes on.
int Watch(v1::MainService::StubInterface& stub, const WatchOptions& options,
          const Output& output);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_COMMANDS_H_
