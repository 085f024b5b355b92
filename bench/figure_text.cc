#include "figure_text.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "report.h"

namespace pieces::bench {

std::string Plural(int n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string RateText(const Summary& summary, const std::string& unit) {
  std::string text = PerSecond(summary.rate, unit);
  if (summary.samples.size() > 1) {
    absl::StrAppend(&text, " (", Grouped(summary.low), "-",
                    Grouped(summary.high), ")");
  }
  return text;
}

std::string LatencyText(const Summary& summary) {
  return absl::StrCat(RateText(summary, "calls"), ", p50 ", Millis(summary.p50),
                      ", p99 ", Millis(summary.p99));
}

std::string UsageText(const std::string& who, const Summary& summary,
                      const std::string& unit) {
  if (!summary.has_usage) return "";
  return absl::StrFormat("%s %.1f us CPU and %.2f context switches per %s", who,
                         summary.cpu_us_per_unit, summary.switches_per_unit,
                         unit);
}

std::string PairUsage(const Paired& paired, const std::string& ceiling,
                      const std::string& subject, const std::string& unit) {
  if (!paired.ceiling.has_usage && !paired.subject.has_usage) return "";
  std::vector<std::string> parts;
  if (paired.ceiling.has_usage) {
    parts.push_back(UsageText(ceiling, paired.ceiling, unit));
  }
  if (paired.subject.has_usage) {
    parts.push_back(UsageText(subject, paired.subject, unit));
  }
  return absl::StrCat("server side: ", absl::StrJoin(parts, "; "));
}

std::string RatioRange(const Paired& paired) {
  return absl::StrCat("per-round ratios ", TwoDecimals(paired.ratio_low), "-",
                      TwoDecimals(paired.ratio_high));
}

std::string AlongsideText(const std::string& ceiling, const Paired& paired,
                          const std::string& unit) {
  return absl::StrCat(ceiling, " alongside: ", RateText(paired.ceiling, unit),
                      "; ", RatioRange(paired));
}

}  // namespace pieces::bench
