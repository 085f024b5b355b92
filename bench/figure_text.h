// The text of the figures and notes the cases print, from the summaries of
// their rounds (rounds.h). The numbers themselves are formatted by report.h
// (Grouped, PerSecond, Millis, TwoDecimals); these put them into the phrases
// BENCHMARKS.md quotes. Pure functions.
#ifndef PIECES_BENCH_FIGURE_TEXT_H_
#define PIECES_BENCH_FIGURE_TEXT_H_

#include <string>

#include "rounds.h"

namespace pieces::bench {

// "1 stream", "8 streams".
std::string Plural(int n, const char* one, const char* many);

// "42,598 msgs/s (38,000-45,100)": the median and, with more than one round,
// the range of the rounds.
std::string RateText(const Summary& summary, const std::string& unit);

// "14,314 calls/s (...), p50 0.69 ms, p99 2.68 ms".
std::string LatencyText(const Summary& summary);

// "echo 10.2 us CPU and 0.8 context switches per msg": the medians of what
// the servers used per unit, or "" when not measured.
std::string UsageText(const std::string& who, const Summary& summary,
                      const std::string& unit);

// "server side: echo ...; work_service ..." for a pair, or "" if unmeasured.
std::string PairUsage(const Paired& paired, const std::string& ceiling,
                      const std::string& subject, const std::string& unit);

// "per-round ratios 0.58-0.74".
std::string RatioRange(const Paired& paired);

// "echo alongside: 41,000 msgs/s (...); per-round ratios 0.58-0.74": the
// ceiling of a pair, measured in the same rounds as its subject.
std::string AlongsideText(const std::string& ceiling, const Paired& paired,
                          const std::string& unit);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_FIGURE_TEXT_H_
