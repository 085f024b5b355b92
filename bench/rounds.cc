#include "rounds.h"

#include <algorithm>
#include <utility>

namespace pieces::bench {
namespace {

template <typename T>
T Median(std::vector<T> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

Summary Summarize(std::vector<Sample> samples) {
  Summary summary;
  if (samples.empty()) return summary;
  std::vector<double> rates;
  std::vector<absl::Duration> p50s, p99s;
  std::vector<double> cpus, switches;
  for (const Sample& sample : samples) {
    rates.push_back(sample.rate);
    p50s.push_back(sample.p50);
    p99s.push_back(sample.p99);
    if (sample.has_usage) {
      cpus.push_back(sample.cpu_us_per_unit);
      switches.push_back(sample.switches_per_unit);
    }
  }
  if (!cpus.empty()) {
    summary.has_usage = true;
    summary.cpu_us_per_unit = Median(cpus);
    summary.switches_per_unit = Median(switches);
  }
  summary.rate = Median(rates);
  summary.low = *std::min_element(rates.begin(), rates.end());
  summary.high = *std::max_element(rates.begin(), rates.end());
  summary.p50 = Median(p50s);
  summary.p99 = Median(p99s);
  summary.samples = std::move(samples);
  return summary;
}

absl::StatusOr<Summary> MeasureRounds(int rounds, const MeasureFn& measure) {
  std::vector<Sample> samples;
  for (int i = 0; i < std::max(rounds, 1); ++i) {
    absl::StatusOr<Sample> sample = measure();
    if (!sample.ok()) return sample.status();
    samples.push_back(*sample);
  }
  return Summarize(std::move(samples));
}

absl::StatusOr<Paired> MeasurePaired(int rounds, const MeasureFn& ceiling,
                                     const MeasureFn& subject) {
  std::vector<Sample> ceilings, subjects;
  std::vector<double> ratios;
  for (int i = 0; i < std::max(rounds, 1); ++i) {
    // Ceiling first in even rounds, subject first in odd ones.
    absl::StatusOr<Sample> a = (i % 2 == 0) ? ceiling() : subject();
    if (!a.ok()) return a.status();
    absl::StatusOr<Sample> b = (i % 2 == 0) ? subject() : ceiling();
    if (!b.ok()) return b.status();
    const Sample& c = (i % 2 == 0) ? *a : *b;
    const Sample& s = (i % 2 == 0) ? *b : *a;
    ceilings.push_back(c);
    subjects.push_back(s);
    ratios.push_back(c.rate > 0 ? s.rate / c.rate : 0);
  }
  Paired paired;
  paired.ceiling = Summarize(std::move(ceilings));
  paired.subject = Summarize(std::move(subjects));
  paired.ratio =
      paired.ceiling.rate > 0 ? paired.subject.rate / paired.ceiling.rate : 0;
  paired.ratio_low = *std::min_element(ratios.begin(), ratios.end());
  paired.ratio_high = *std::max_element(ratios.begin(), ratios.end());
  return paired;
}

}  // namespace pieces::bench
