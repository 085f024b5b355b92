#include "report.h"

#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pieces::bench {
namespace {

std::string RatioText(const Figure& figure) {
  if (!figure.ratio.has_value()) return "";
  return absl::StrCat(TwoDecimals(*figure.ratio), " ", figure.ratio_of);
}

std::string MetText(const Figure& figure) {
  if (!figure.met.has_value()) return "";
  return *figure.met ? "met" : "NOT met";
}

}  // namespace

std::string Grouped(double value) {
  const long long whole = std::llround(value);
  std::string digits = absl::StrCat(whole < 0 ? -whole : whole);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return whole < 0 ? "-" + grouped : grouped;
}

std::string PerSecond(double value, const std::string& unit) {
  return absl::StrCat(Grouped(value), " ", unit, "/s");
}

std::string Millis(absl::Duration duration) {
  return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(duration));
}

std::string TwoDecimals(double value) { return absl::StrFormat("%.2f", value); }

void Report::Add(Figure figure) {
  std::string line = absl::StrFormat("[%s] %s: %s", figure.case_name,
                                     figure.what, figure.value);
  if (figure.ratio.has_value()) {
    absl::StrAppend(&line, " | ", RatioText(figure));
  }
  if (!figure.goal.empty()) {
    absl::StrAppend(&line, " | goal ", figure.goal, ": ", MetText(figure));
  }
  absl::PrintF("%s\n", line);
  fflush(stdout);
  figures_.push_back(std::move(figure));
}

void Report::Note(const std::string& text) {
  absl::PrintF("    %s\n", text);
  fflush(stdout);
}

void Report::PrintTable() const {
  absl::PrintF("\n| case | figure | value | ratio | goal | met |\n");
  absl::PrintF("|---|---|---|---|---|---|\n");
  for (const Figure& figure : figures_) {
    absl::PrintF("| %s | %s | %s | %s | %s | %s |\n", figure.case_name,
                 figure.what, figure.value, RatioText(figure), figure.goal,
                 MetText(figure));
  }
  fflush(stdout);
}

}  // namespace pieces::bench
