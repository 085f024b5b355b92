#include "ghz.h"

#include <sys/wait.h>

#include <cstdio>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace pieces::bench {
namespace {

// Quotes `text` for /bin/sh.
std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

// Parses "3.97 ms", "850.12 µs", "1.02 s" or "120 ns".
bool ParseGhzDuration(absl::string_view text, absl::Duration* out) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  double value = 0;
  if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &value)) return false;
  const absl::string_view unit = parts[1];
  if (unit == "ns") {
    *out = absl::Nanoseconds(value);
  } else if (unit == "µs" || unit == "us") {
    *out = absl::Microseconds(value);
  } else if (unit == "ms") {
    *out = absl::Milliseconds(value);
  } else if (unit == "s") {
    *out = absl::Seconds(value);
  } else {
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<GhzResult> RunGhz(const GhzOptions& options) {
  const std::vector<std::string> args = {
      options.ghz,
      "--insecure",
      absl::StrCat("--proto=", options.proto),
      absl::StrCat("--import-paths=", options.import_path),
      absl::StrCat("--call=", options.call),
      absl::StrCat("--data=", options.data),
      absl::StrCat("--concurrency=", options.concurrency),
      "--connections=1",
      absl::StrCat("--duration=", absl::ToInt64Milliseconds(options.duration),
                   "ms"),
      "--duration-stop=ignore",
      "--format=summary",
      options.address};
  std::vector<std::string> quoted;
  for (const std::string& arg : args) quoted.push_back(ShellQuote(arg));
  const std::string command = absl::StrJoin(quoted, " ");

  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return absl::InternalError(absl::StrCat("cannot run ", options.ghz));
  }
  GhzResult result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.summary.append(buffer, n);
  }
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(
        "ghz failed (", command, "); it printed:\n", result.summary));
  }

  bool have_rate = false, have_p50 = false, have_p99 = false;
  for (absl::string_view line : absl::StrSplit(result.summary, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "Requests/sec:")) {
      have_rate = absl::SimpleAtod(absl::StripAsciiWhitespace(line),
                                   &result.calls_per_second);
    } else if (absl::ConsumePrefix(&line, "50 % in ")) {
      have_p50 = ParseGhzDuration(line, &result.p50);
    } else if (absl::ConsumePrefix(&line, "99 % in ")) {
      have_p99 = ParseGhzDuration(line, &result.p99);
    } else if (absl::StartsWith(line, "[") &&
               absl::EndsWith(line, "responses")) {
      // "[OK]   2420 responses"
      const size_t close = line.find(']');
      const absl::string_view code = line.substr(1, close - 1);
      std::vector<absl::string_view> rest =
          absl::StrSplit(line.substr(close + 1), ' ', absl::SkipEmpty());
      uint64_t count = 0;
      if (!rest.empty() && absl::SimpleAtoi(rest[0], &count)) {
        (code == "OK" ? result.ok : result.errors) += count;
      }
    }
  }
  if (!have_rate || (result.ok > 0 && (!have_p50 || !have_p99))) {
    return absl::InternalError(
        absl::StrCat("cannot read ghz's summary:\n", result.summary));
  }
  return result;
}

}  // namespace pieces::bench
