// A closed-loop load of unary calls, as the suite's own client for the
// MainService.Run and echo figures: `callers` callers each keep one call in
// flight, issuing the next as soon as the last one completes, on gRPC's
// callback API. Calls that complete inside the measuring window count toward
// the rate and the latency percentiles; those before it warm up.
#ifndef PIECES_BENCH_UNARY_LOAD_H_
#define PIECES_BENCH_UNARY_LOAD_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace pieces::bench {

struct UnaryLoadOptions {
  int callers = 16;
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration measure = absl::Seconds(3);
  // If set, called on the calling thread as the measuring window opens and
  // as it closes.
  std::function<void()> at_window_open;
  std::function<void()> at_window_close;
};

struct UnaryLoadResult {
  double calls_per_second = 0;
  absl::Duration p50;
  absl::Duration p99;
  uint64_t calls = 0;   // Completed inside the window.
  uint64_t errors = 0;  // Calls that did not end OK, anywhere in the run.
  std::string first_error;
};

// Starts one call with a fresh `context`; calls `done` when it completes. The
// request and reply storage belong to the function (one per caller: `caller`
// is the caller's index, and a caller has one call in flight at a time).
using UnaryCallFn = std::function<void(int caller, grpc::ClientContext* context,
                                       std::function<void(grpc::Status)> done)>;

UnaryLoadResult RunUnaryLoad(const UnaryLoadOptions& options,
                             const UnaryCallFn& call);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_UNARY_LOAD_H_
