// The figures of one run of pieces_bench: each printed as one line as soon as
// it is measured, and all of them again as a Markdown table at the end (the
// table BENCHMARKS.md quotes).
//
// Thread safety: none; the cases run one after another on the main thread.
#ifndef PIECES_BENCH_REPORT_H_
#define PIECES_BENCH_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace pieces::bench {

// One figure: Figure("2 cache hit", "Process, 1 session", "41,000 results/s")
//     .Ratio(0.63, "of echo x1").Goal("ratio >= 0.80", 0.63 >= 0.8)
struct Figure {
  Figure(std::string case_name, std::string what, std::string value)
      : case_name(std::move(case_name)),
        what(std::move(what)),
        value(std::move(value)) {}

  // The ratio the issue names, and what it is a ratio of ("of echo x1").
  Figure& Ratio(double value, std::string of) {
    ratio = value;
    ratio_of = std::move(of);
    return *this;
  }
  // The goal, as text ("ratio >= 0.80"), and whether this run met it.
  Figure& Goal(std::string text, bool is_met) {
    goal = std::move(text);
    met = is_met;
    return *this;
  }

  std::string case_name;  // "1 transport", "2 cache hit", ...
  std::string what;       // "bare echo stream, 1 stream, pipelined"
  std::string value;      // "123,456 msgs/s"
  std::optional<double> ratio;
  std::string ratio_of;
  std::string goal;
  std::optional<bool> met;
};

class Report {
 public:
  // Prints `figure` as one line on stdout and keeps it for the table.
  void Add(Figure figure);
  // Prints a note line (context for the figures above it).
  void Note(const std::string& text);
  // Prints every figure as a Markdown table.
  void PrintTable() const;

 private:
  std::vector<Figure> figures_;
};

// "123,456"
std::string Grouped(double value);
// "123,456 units/s"
std::string PerSecond(double value, const std::string& unit);
// "1.23 ms"
std::string Millis(absl::Duration duration);
// "0.85"
std::string TwoDecimals(double value);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_REPORT_H_
