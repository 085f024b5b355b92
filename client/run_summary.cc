#include "client/run_summary.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format.h"

namespace pieces::client {
namespace {

bool Failed(const v1::Result& result) { return result.has_error(); }

const char* PerformedName(v1::Performed performed) {
  switch (performed) {
    case v1::PERFORMED_NEW:
      return "new";
    case v1::PERFORMED_FROM_CACHE:
      return "from_cache";
    default:
      return "unspecified";
  }
}

}  // namespace

void RunTally::Add(const v1::Result& result) {
  ++results;
  if (Failed(result)) {
    ++failed;
    if (first_errors.size() < kShownErrors) first_errors.push_back(result);
    return;
  }
  if (result.performed() == v1::PERFORMED_NEW) {
    ++performed_new;
  } else {
    ++from_cache;
    if (result.waited()) ++waited;
  }
}

std::string FormatRunSummary(const RunTally& tally, uint64_t keys,
                             absl::Duration wall_time) {
  std::string text =
      tally.results == keys
          ? absl::StrCat(tally.results, " results")
          : absl::StrCat(tally.results, " of ", keys, " results");
  const double seconds = absl::ToDoubleSeconds(wall_time);
  absl::StrAppend(&text, " in ", ShortDuration(wall_time), " (",
                  seconds > 0 ? PerSecond(tally.results / seconds) : "-/s",
                  "): ", tally.performed_new, " new, ", tally.from_cache,
                  " cached, ", tally.waited, " waited, ", tally.failed,
                  " failed\n");
  if (tally.failed == 0) return text;
  absl::StrAppend(&text, "first ", tally.first_errors.size(), " of ",
                  tally.failed, tally.failed == 1 ? " error:\n" : " errors:\n");
  for (const v1::Result& result : tally.first_errors) {
    absl::StrAppend(&text, "  id ", result.id(), "  key ", result.key(), "  ",
                    StatusCodeName(result.error().code()), ": ",
                    result.error().message(), "\n");
  }
  return text;
}

std::string ResultJson(const v1::Result& result) {
  std::string line =
      absl::StrCat("{\"id\":", result.id(), ",\"key\":", result.key(),
                   ",\"value\":", result.value());
  if (Failed(result)) {
    absl::StrAppend(&line, ",\"performed\":null,\"waited\":",
                    result.waited() ? "true" : "false", ",\"error\":{\"code\":",
                    JsonString(StatusCodeName(result.error().code())),
                    ",\"message\":", JsonString(result.error().message()),
                    "}}");
    return line;
  }
  absl::StrAppend(
      &line, ",\"performed\":", JsonString(PerformedName(result.performed())),
      ",\"waited\":", result.waited() ? "true" : "false", ",\"error\":null}");
  return line;
}

std::string ResultText(const v1::Result& result) {
  std::string line = absl::StrCat("id ", result.id(), "  key ", result.key());
  if (Failed(result)) {
    absl::StrAppend(&line, "  error ", StatusCodeName(result.error().code()),
                    ": ", result.error().message());
    return line;
  }
  absl::StrAppend(&line, "  value ", result.value(), "  ",
                  PerformedName(result.performed()),
                  result.waited() ? " waited" : "");
  return line;
}

}  // namespace pieces::client
