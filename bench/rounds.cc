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
  absl::StatusOr<std::vector<Summary>> both =
      MeasureAlternating(rounds, {ceiling, subject});
  if (!both.ok()) return both.status();
  return PairOf((*both)[0], (*both)[1]);
}

absl::StatusOr<std::vector<Summary>> MeasureAlternating(
    int rounds, const std::vector<MeasureFn>& measures) {
  const size_t n = measures.size();
  std::vector<std::vector<Sample>> samples(n);
  for (int i = 0; i < std::max(rounds, 1); ++i) {
    for (size_t k = 0; k < n; ++k) {
      const size_t which = (static_cast<size_t>(i) + k) % n;
      absl::StatusOr<Sample> sample = measures[which]();
      if (!sample.ok()) return sample.status();
      samples[which].push_back(*sample);
    }
  }
  std::vector<Summary> summaries;
  for (std::vector<Sample>& each : samples) {
    summaries.push_back(Summarize(std::move(each)));
  }
  return summaries;
}

Paired PairOf(const Summary& ceiling, const Summary& subject) {
  Paired paired;
  paired.ceiling = ceiling;
  paired.subject = subject;
  paired.ratio = ceiling.rate > 0 ? subject.rate / ceiling.rate : 0;
  std::vector<double> ratios;
  const size_t rounds =
      std::min(ceiling.samples.size(), subject.samples.size());
  for (size_t i = 0; i < rounds; ++i) {
    const double c = ceiling.samples[i].rate;
    ratios.push_back(c > 0 ? subject.samples[i].rate / c : 0);
  }
  if (!ratios.empty()) {
    paired.ratio_low = *std::min_element(ratios.begin(), ratios.end());
    paired.ratio_high = *std::max_element(ratios.begin(), ratios.end());
  }
  return paired;
}

}  // namespace pieces::bench
