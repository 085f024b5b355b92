// Runs ghz (github.com/bojand/ghz, installed by scripts/install-tools.sh) as
// an outside client of a unary method and reads its summary.
#ifndef PIECES_BENCH_GHZ_H_
#define PIECES_BENCH_GHZ_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pieces::bench {

struct GhzOptions {
  std::string ghz;          // The ghz binary.
  std::string proto;        // The .proto file declaring the method.
  std::string import_path;  // Where its imports are found (comma-separated).
  std::string call;         // "package.Service.Method".
  std::string data;         // The request, as JSON.
  std::string address;      // "host:port".
  int concurrency = 16;
  absl::Duration duration = absl::Seconds(3);
};

struct GhzResult {
  double calls_per_second = 0;
  absl::Duration p50;
  absl::Duration p99;
  uint64_t ok = 0;      // Calls that ended OK.
  uint64_t errors = 0;  // Calls that did not.
  std::string summary;  // ghz's whole summary, for a report of errors.
};

// Runs ghz once and parses "Requests/sec", the 50 % and 99 % latencies and
// the status code distribution from its summary. Calls cut short by the end
// of the duration are left out (--duration-stop=ignore).
absl::StatusOr<GhzResult> RunGhz(const GhzOptions& options);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_GHZ_H_
