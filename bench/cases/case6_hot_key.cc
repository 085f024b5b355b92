// Case 6, the hot key: work_service --work=sleep:(window + 1 s); keys 1 and 2
// cached first; 4 sessions send only those, and their rate is measured for
// one window; then a fifth session sends 200 units of one fresh key, and the
// rate is measured for another window while they wait. The figure is the
// second rate over the first (goal >= 0.9).
#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/cases/cases.h"

namespace pieces::bench {

absl::Status RunHotKey(Suite& suite) {
  constexpr int kHotRequests = 200;
  constexpr int kSessions = 4;
  constexpr uint64_t kHotKey = 777'777;
  const Settings& settings = suite.settings();
  // The slow key must stay in progress for the whole measuring window.
  const absl::Duration slow = settings.measure + absl::Seconds(1);
  absl::StatusOr<Connected<v1::WorkService>> work = suite.StartConnectedWork(
      {absl::StrCat("--work=sleep:", absl::ToInt64Milliseconds(slow), "ms")});
  if (!work.ok()) return work.status();
  v1::WorkService::Stub* stub = work->stub.get();
  // The unrelated keys (1 and 2) are cached first: their traffic is the
  // cache-hit path, which a slow key should not hold up.
  if (absl::Status s = RunSession(
          stub, 2, [](uint64_t id) { return 1 + id; }, 2, "hot-key fill");
      !s.ok()) {
    return s;
  }

  std::atomic<uint64_t> answered{0};
  Streams<ProcessTraits> unrelated;
  for (int i = 0; i < kSessions; ++i) {
    StreamOptions options;
    options.window = settings.window;
    options.answered = &answered;
    options.key = [](uint64_t id) { return 1 + id % 2; };
    unrelated.push_back(OpenSession(stub, options));
  }
  auto rate_over = [&](absl::Duration window) {
    const uint64_t before = answered.load();
    const absl::Time begin = absl::Now();
    absl::SleepFor(window);
    return static_cast<double>(answered.load() - before) /
           absl::ToDoubleSeconds(absl::Now() - begin);
  };
  absl::SleepFor(settings.warmup);
  const double calm = rate_over(settings.measure);

  // 200 units of one fresh, slow key, in one session.
  StreamOptions hot_options;
  hot_options.window = kHotRequests;
  hot_options.max_units = kHotRequests;
  hot_options.key = [](uint64_t) { return kHotKey; };
  Streams<ProcessTraits> hot;
  hot.push_back(OpenSession(stub, hot_options));
  absl::SleepFor(absl::Milliseconds(100));  // Let the hot units arrive.
  const double during = rate_over(settings.measure);
  const bool still_hot = hot[0]->units_answered() == 0;

  for (auto& stream : unrelated) stream->Stop();
  absl::Status status = AwaitStreams(unrelated, "unrelated sessions");
  if (status.ok()) status = AwaitStreams(hot, "hot-key session");
  if (!status.ok()) return status;
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  if (!stats.ok()) return stats.status();

  const double ratio = calm > 0 ? during / calm : 0;
  Report& report = suite.report();
  report.Add(
      Figure("6 hot key",
             absl::StrCat("cached keys, ", kSessions, " sessions, no hot key"),
             PerSecond(calm, "results")));
  report.Add(Figure("6 hot key",
                    absl::StrCat("the same while ", kHotRequests,
                                 " requests wait on one slow key"),
                    PerSecond(during, "results"))
                 .Ratio(ratio, "of no hot key")
                 .Goal("ratio >= 0.90", ratio >= 0.9));
  report.Note(absl::StrCat("work_service threads=", stats->threads(),
                           ", slow key sleep:", absl::FormatDuration(slow),
                           "; units that waited: ", stats->waited()));
  if (!still_hot) {
    report.Note(
        "the slow key finished before the window closed (an overloaded "
        "machine): the second figure covers some time without it");
  }
  return absl::OkStatus();
}

}  // namespace pieces::bench
