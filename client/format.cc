#include "client/format.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/logging/event_log.h"

namespace pieces::client {

std::string StatusCodeName(int code) {
  const char* name = ::pieces::StatusCodeName(code);
  return name != nullptr ? name : absl::StrCat("CODE_", code);
}

std::string JsonString(absl::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

std::string ShortDuration(absl::Duration duration) {
  if (duration < absl::ZeroDuration()) duration = absl::ZeroDuration();
  if (duration == absl::InfiniteDuration()) return "inf";
  const double seconds = absl::ToDoubleSeconds(duration);
  if (seconds < 10) return absl::StrFormat("%.2fs", seconds);
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const int64_t whole = absl::ToInt64Seconds(duration);
  if (whole < 3600) return absl::StrFormat("%dm%02ds", whole / 60, whole % 60);
  return absl::StrFormat("%dh%02dm", whole / 3600, whole % 3600 / 60);
}

std::string PerSecond(double rate) {
  if (!std::isfinite(rate) || rate < 0) return "-/s";
  if (rate == 0) return "0/s";
  if (rate >= 100) return absl::StrFormat("%.0f/s", rate);
  if (rate >= 10) return absl::StrFormat("%.1f/s", rate);
  return absl::StrFormat("%.2f/s", rate);
}

}  // namespace pieces::client
