// Case 2, the cache-hit path: work_service --work=echo with 1,024 keys cached
// first, then 1 and 8 Process sessions sending only those keys, each paired
// with the bare echo stream at the same number of streams, and with its
// variant that coalesces writes as work_service does (StreamHinted). Checks
// that the service computed exactly the keys filled.
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/cases/cases.h"
#include "bench/figure_text.h"

namespace pieces::bench {

absl::Status RunCacheHitPath(Suite& suite) {
  constexpr uint64_t kKeys = 1024;
  if (absl::Status s = suite.EnsureEcho(); !s.ok()) return s;
  absl::StatusOr<Connected<v1::WorkService>> work =
      suite.StartConnectedWork({"--work=echo"});
  if (!work.ok()) return work.status();
  v1::WorkService::Stub* stub = work->stub.get();
  // Every key the sessions below send is cached first.
  if (absl::Status s = RunSession(
          stub, kKeys, [](uint64_t id) { return id; }, suite.settings().window,
          "cache fill");
      !s.ok()) {
    return s;
  }
  for (int sessions : {1, 8}) {
    // The plain echo, the echo that coalesces its writes as work_service
    // does (StreamHinted), and work_service, in the same alternating rounds.
    absl::StatusOr<std::vector<Summary>> rounds = MeasureAlternating(
        suite.settings().rounds,
        {suite.EchoStreams(sessions),
         suite.EchoStreams(sessions, /*hinted=*/true),
         suite.ProcessSessions(
             *work, sessions, [](uint64_t id) { return id % kKeys; },
             "cache-hit sessions")});
    if (!rounds.ok()) return rounds.status();
    const Paired paired = PairOf((*rounds)[0], (*rounds)[2]);
    const Paired hinted = PairOf((*rounds)[1], (*rounds)[2]);
    suite.report().Add(
        Figure("2 cache hit",
               absl::StrCat("Process, all keys cached, ",
                            Plural(sessions, "session", "sessions")),
               RateText(paired.subject, "results"))
            .Ratio(paired.ratio, absl::StrCat("of echo x", sessions))
            .Goal("ratio >= 0.80", paired.ratio >= 0.8));
    suite.report().Note(AlongsideText("echo", paired, "msgs"));
    suite.report().Note(AlongsideText("hinted echo", hinted, "msgs"));
    suite.NoteIfAny(PairUsage(paired, "echo server", "work_service", "unit"));
    suite.NoteIfAny(UsageText("hinted echo server", hinted.ceiling, "msg"));
  }
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  if (!stats.ok()) return stats.status();
  if (stats->computed() != kKeys) {
    return absl::InternalError(absl::StrCat("cache-hit case: expected ", kKeys,
                                            " computations, the service did ",
                                            stats->computed()));
  }
  suite.report().Note(absl::StrCat(
      "work_service threads=", stats->threads(), "; computed=",
      stats->computed(), " (the fill), from_cache=", stats->from_cache()));
  return absl::OkStatus();
}

}  // namespace pieces::bench
