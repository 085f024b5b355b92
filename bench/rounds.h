// Repeated measurements, for a machine that others share: each figure is the
// median of several rounds, and a figure and its ceiling are measured in
// alternating rounds (ceiling first, then subject first, and so on), so that
// both see the same machine and a ratio does not compare a quiet minute with
// a busy one.
#ifndef PIECES_BENCH_ROUNDS_H_
#define PIECES_BENCH_ROUNDS_H_

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pieces::bench {

// One measurement: a rate and, for unary loads, latency percentiles; when
// the servers measured are processes of their own, what they spent per unit
// (or call) answered.
struct Sample {
  double rate = 0;
  absl::Duration p50;
  absl::Duration p99;
  bool has_usage = false;
  double cpu_us_per_unit = 0;    // Server CPU time, user + system.
  double switches_per_unit = 0;  // Server context switches.
};

using MeasureFn = std::function<absl::StatusOr<Sample>()>;

// The rounds of one measurement.
struct Summary {
  double rate = 0;  // The median rate.
  double low = 0;   // The lowest and highest rates seen.
  double high = 0;
  absl::Duration p50;  // The medians of the rounds' percentiles.
  absl::Duration p99;
  bool has_usage = false;  // The medians of the rounds' server usage.
  double cpu_us_per_unit = 0;
  double switches_per_unit = 0;
  std::vector<Sample> samples;
};

Summary Summarize(std::vector<Sample> samples);

// Measures `measure` `rounds` times.
absl::StatusOr<Summary> MeasureRounds(int rounds, const MeasureFn& measure);

// A subject and its ceiling, measured in alternating rounds.
struct Paired {
  Summary ceiling;
  Summary subject;
  double ratio = 0;  // subject.rate / ceiling.rate (medians).
  // The lowest and highest ratio of one round's subject to the same round's
  // ceiling: how much the machine moved under the figure.
  double ratio_low = 0;
  double ratio_high = 0;
};

absl::StatusOr<Paired> MeasurePaired(int rounds, const MeasureFn& ceiling,
                                     const MeasureFn& subject);

// Several measurements in alternating rounds: round i runs them all, one
// after another, starting with measures[i % n] (with two, this is
// MeasurePaired's order). Returns one Summary per measurement, in the order
// given; each keeps its samples in round order, so PairOf can compare any
// two of them round by round.
absl::StatusOr<std::vector<Summary>> MeasureAlternating(
    int rounds, const std::vector<MeasureFn>& measures);

// `subject` against `ceiling`, both from the same MeasureAlternating (or
// MeasurePaired) run: the ratio of the medians and the range of the ratios
// of single rounds.
Paired PairOf(const Summary& ceiling, const Summary& subject);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_ROUNDS_H_
