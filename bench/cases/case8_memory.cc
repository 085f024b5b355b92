// Case 8, memory: work_service --work=echo with no bound on its cache; VmRSS
// after a 100-unit warm-up session, then --memory_keys fresh keys through
// Process (sessions of 10,000 units, 4 at a time), VmRSS again. The figure is
// (after - before) / keys; checks that cache_entries grew by the keys sent
// (MeasureCacheMemory).
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/cases/cases.h"

namespace pieces::bench {

absl::Status RunMemory(Suite& suite) {
  const uint64_t total = suite.settings().memory_keys;
  // No bound on the cache: with the default --cache_capacity of 1,000,000,
  // the warm-up's keys would push as many of the measured ones out.
  absl::StatusOr<Connected<v1::WorkService>> work =
      suite.StartConnectedWork({"--work=echo", "--cache_capacity=0"});
  if (!work.ok()) return work.status();
  absl::StatusOr<CacheMemory> memory =
      MeasureCacheMemory(*work, total, suite.settings().window);
  if (!memory.ok()) return memory.status();

  suite.report().Add(
      Figure("8 memory",
             absl::StrCat("VmRSS per cached entry, ", Grouped(total),
                          " keys cached through Process"),
             absl::StrFormat("%.1f bytes", memory->bytes_per_entry))
          .Goal("<= 80 bytes", memory->bytes_per_entry <= 80));
  suite.report().Note(absl::StrCat(
      "VmRSS ", Grouped(memory->rss_before / 1024.0), " kB before, ",
      Grouped(memory->rss_after / 1024.0), " kB after; cache_entries ",
      Grouped(memory->entries), "; filled at ",
      PerSecond(total / absl::ToDoubleSeconds(memory->fill_time), "keys"), ", ",
      kCacheFillParallel, " sessions at a time of ",
      Grouped(kCacheFillSessionUnits), " units"));
  return absl::OkStatus();
}

}  // namespace pieces::bench
