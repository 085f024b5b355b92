// Case 4, coalescing: work_service --work=sleep:100ms; 50 sessions open at
// once, each sends 20 units for the same fresh key, then Exit; 5 repetitions
// (1 with --quick) with a new key each. The figures are the computations
// (GetStats `computed` delta, goal 1) and the wall time from the first send
// to the last result.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/cases/cases.h"

namespace pieces::bench {

absl::Status RunCoalescing(Suite& suite) {
  constexpr int kSessions = 50;
  constexpr int kPerSession = 20;  // 1,000 requests in all.
  const int repetitions = suite.settings().quick ? 1 : 5;
  absl::StatusOr<Connected<v1::WorkService>> work =
      suite.StartConnectedWork({"--work=sleep:100ms"});
  if (!work.ok()) return work.status();
  v1::WorkService::Stub* stub = work->stub.get();

  std::vector<double> walls_ms;
  std::vector<uint64_t> computations;
  uint64_t waited = 0;
  for (int rep = 0; rep < repetitions; ++rep) {
    absl::StatusOr<v1::Stats> before = GetStats(*stub);
    if (!before.ok()) return before.status();
    const uint64_t key = 1'000'000 + rep;  // Fresh in each repetition.
    const absl::Time start = absl::Now();
    Streams<ProcessTraits> streams;
    for (int i = 0; i < kSessions; ++i) {
      StreamOptions options;
      options.window = kPerSession;
      options.max_units = kPerSession;
      options.key = [key](uint64_t) { return key; };
      streams.push_back(OpenSession(stub, options));
    }
    absl::Status status = AwaitStreams(streams, "coalescing sessions");
    if (!status.ok()) return status;
    absl::Time last = start;
    for (const auto& stream : streams) {
      if (stream->units_answered() != kPerSession) {
        return absl::InternalError("coalescing: a session lost results");
      }
      last = std::max(last, stream->last_answer());
    }
    absl::StatusOr<v1::Stats> after = GetStats(*stub);
    if (!after.ok()) return after.status();
    walls_ms.push_back(absl::ToDoubleMilliseconds(last - start));
    computations.push_back(after->computed() - before->computed());
    waited += after->waited() - before->waited();
  }
  const uint64_t most =
      *std::max_element(computations.begin(), computations.end());
  std::vector<double> sorted = walls_ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  suite.report().Add(Figure("4 coalescing",
                            "1,000 requests for one fresh key, 50 sessions, "
                            "sleep:100ms: computations",
                            absl::StrJoin(computations, ", "))
                         .Goal("1", most == 1));
  suite.report().Add(Figure("4 coalescing",
                            absl::StrCat("wall time, first send to last result "
                                         "(median of ",
                                         repetitions, ")"),
                            absl::StrFormat("%.3f s", median / 1000))
                         .Goal("< 0.150 s", median < 150));
  std::vector<std::string> each;
  for (double ms : walls_ms) each.push_back(absl::StrFormat("%.0f", ms));
  suite.report().Note(
      absl::StrCat("each repetition (ms): ", absl::StrJoin(each, ", "),
                   "; units that waited on the pool: ", waited));
  return absl::OkStatus();
}

}  // namespace pieces::bench
