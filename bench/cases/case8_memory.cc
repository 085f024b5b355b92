// Case 8, memory: work_service --work=echo with no bound on its cache; VmRSS
// after a 100-unit warm-up session, then --memory_keys fresh keys through
// Process (sessions of 10,000 units, 4 at a time), VmRSS again. The figure is
// (after - before) / keys; checks that cache_entries grew by the keys sent.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/cases/cases.h"

namespace pieces::bench {

absl::Status RunMemory(Suite& suite) {
  const uint64_t total = suite.settings().memory_keys;
  constexpr uint64_t kPerSession = 10'000;
  constexpr int kParallel = 4;
  constexpr uint64_t kFirstKey = uint64_t{1} << 40;

  // No bound on the cache: with the default --cache_capacity of 1,000,000,
  // the warm-up's keys would push as many of the measured ones out.
  absl::StatusOr<Connected<v1::WorkService>> work =
      suite.StartConnectedWork({"--work=echo", "--cache_capacity=0"});
  if (!work.ok()) return work.status();
  v1::WorkService::Stub* stub = work->stub.get();
  // One small session first, so that the baseline has the connection, the
  // pool's threads and gRPC's buffers in it.
  if (absl::Status s = RunSession(
          stub, 100, [](uint64_t id) { return id; }, suite.settings().window,
          "memory warm-up");
      !s.ok()) {
    return s;
  }
  absl::SleepFor(absl::Milliseconds(200));
  absl::StatusOr<v1::Stats> before = GetStats(*stub);
  if (!before.ok()) return before.status();
  absl::StatusOr<int64_t> rss_before = work->service.process->ResidentBytes();
  if (!rss_before.ok()) return rss_before.status();

  const absl::Time start = absl::Now();
  uint64_t filled = 0;
  while (filled < total) {
    Streams<ProcessTraits> streams;
    for (int i = 0; i < kParallel && filled < total; ++i) {
      const uint64_t count = std::min(kPerSession, total - filled);
      const uint64_t offset = kFirstKey + filled;
      StreamOptions options;
      options.window = suite.settings().window;
      options.max_units = count;
      options.key = [offset](uint64_t id) { return offset + id; };
      streams.push_back(OpenSession(stub, options));
      filled += count;
    }
    absl::Status status = AwaitStreams(streams, "cache fill");
    if (!status.ok()) return status;
  }
  const absl::Duration fill_time = absl::Now() - start;
  absl::SleepFor(absl::Milliseconds(200));
  absl::StatusOr<v1::Stats> after = GetStats(*stub);
  if (!after.ok()) return after.status();
  absl::StatusOr<int64_t> rss_after = work->service.process->ResidentBytes();
  if (!rss_after.ok()) return rss_after.status();

  const uint64_t added = after->cache_entries() - before->cache_entries();
  if (added != total) {
    return absl::InternalError(absl::StrCat(
        "memory case: cache_entries grew by ", added, ", not by ", total));
  }
  const double per_entry = static_cast<double>(*rss_after - *rss_before) /
                           static_cast<double>(total);
  suite.report().Add(
      Figure("8 memory",
             absl::StrCat("VmRSS per cached entry, ", Grouped(total),
                          " keys cached through Process"),
             absl::StrFormat("%.1f bytes", per_entry))
          .Goal("<= 80 bytes", per_entry <= 80));
  suite.report().Note(absl::StrCat(
      "VmRSS ", Grouped(*rss_before / 1024.0), " kB before, ",
      Grouped(*rss_after / 1024.0), " kB after; cache_entries ",
      Grouped(after->cache_entries()), "; filled at ",
      PerSecond(total / absl::ToDoubleSeconds(fill_time), "keys"), ", ",
      kParallel, " sessions at a time of ", Grouped(kPerSession), " units"));
  return absl::OkStatus();
}

}  // namespace pieces::bench
