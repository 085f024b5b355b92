// Case 1, the transport ceiling: the bare echo stream over 1 and 8 pipelined
// streams, in messages per second. The ceiling the other figures compare to.
#include "absl/strings/str_cat.h"
#include "bench/cases/cases.h"
#include "bench/figure_text.h"

namespace pieces::bench {

absl::Status RunTransportCeiling(Suite& suite) {
  if (absl::Status s = suite.EnsureEcho(); !s.ok()) return s;
  for (int streams : {1, 8}) {
    absl::StatusOr<Summary> echo =
        MeasureRounds(suite.settings().rounds, suite.EchoStreams(streams));
    if (!echo.ok()) return echo.status();
    suite.report().Add(Figure(
        "1 transport",
        absl::StrCat("bare echo stream, ", Plural(streams, "stream", "streams"),
                     ", pipelined"),
        RateText(*echo, "msgs")));
    suite.NoteIfAny(UsageText("server side: echo server", *echo, "msg"));
  }
  return absl::OkStatus();
}

}  // namespace pieces::bench
