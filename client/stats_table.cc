#include "client/stats_table.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format.h"

namespace pieces::client {
namespace {

// A table of text cells, columns padded to their widest cell; numbers (all
// columns but the first two and the last) are aligned right.
class Table {
 public:
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  std::string Render() const {
    std::vector<size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()));
      for (size_t i = 0; i < row.size(); ++i) {
        widths[i] = std::max(widths[i], row[i].size());
      }
    }
    std::string text;
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        const bool last = i + 1 == widths.size();
        const bool number = i >= 2 && !last;
        if (i > 0) line += "  ";
        if (last) {
          line += row[i];  // No padding after the last column.
        } else if (number) {
          absl::StrAppendFormat(&line, "%*s", widths[i], row[i]);
        } else {
          absl::StrAppendFormat(&line, "%-*s", widths[i], row[i]);
        }
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      absl::StrAppend(&text, line, "\n");
    }
    return text;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// The rate of `counter` from `before` to `now`; "-" when it went back.
std::string Rate(uint64_t now, uint64_t before, absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  if (now < before || seconds <= 0) return "-";
  return PerSecond(static_cast<double>(now - before) / seconds);
}

const v1::ReplicaStats* FindReplica(const v1::ClusterStats& stats,
                                    const std::string& address) {
  for (const v1::ReplicaStats& replica : stats.replicas()) {
    if (replica.address() == address) return &replica;
  }
  return nullptr;
}

std::vector<std::string> Counters(const v1::Stats& stats) {
  return {absl::StrCat(stats.sessions_active()),
          absl::StrCat(stats.computed()),
          absl::StrCat(stats.from_cache()),
          absl::StrCat(stats.waited()),
          absl::StrCat(stats.failed()),
          absl::StrCat(stats.cache_entries())};
}

// The rate cells for `now`, against `before` (absent: "-").
std::vector<std::string> Rates(const v1::Stats& now, const v1::Stats* before,
                               absl::Duration elapsed) {
  if (before == nullptr) return {"-", "-"};
  return {Rate(now.computed(), before->computed(), elapsed),
          Rate(now.from_cache(), before->from_cache(), elapsed)};
}

std::string Render(const v1::ClusterStats& stats,
                   const v1::ClusterStats* previous, absl::Duration elapsed,
                   bool with_rates) {
  Table table;
  std::vector<std::string> header = {"address",  "routable",     "sessions",
                                     "computed", "from_cache",   "waited",
                                     "failed",   "cache_entries"};
  if (with_rates) {
    header.push_back("computed/s");
    header.push_back("from_cache/s");
  }
  header.push_back("error");
  table.AddRow(std::move(header));

  for (const v1::ReplicaStats& replica : stats.replicas()) {
    std::vector<std::string> row = {replica.address(),
                                    replica.routable() ? "yes" : "no"};
    const bool answered = !replica.has_error();
    std::vector<std::string> counters =
        answered ? Counters(replica.stats()) : std::vector<std::string>(6, "-");
    row.insert(row.end(), counters.begin(), counters.end());
    if (with_rates) {
      const v1::ReplicaStats* before =
          previous == nullptr ? nullptr
                              : FindReplica(*previous, replica.address());
      std::vector<std::string> rates =
          answered && before != nullptr && !before->has_error()
              ? Rates(replica.stats(), &before->stats(), elapsed)
              : Rates(replica.stats(), nullptr, elapsed);
      row.insert(row.end(), rates.begin(), rates.end());
    }
    row.push_back(answered
                      ? ""
                      : absl::StrCat(StatusCodeName(replica.error().code()),
                                     ": ", replica.error().message()));
    table.AddRow(std::move(row));
  }

  std::vector<std::string> total = {"total", ""};
  std::vector<std::string> counters = Counters(stats.total());
  total.insert(total.end(), counters.begin(), counters.end());
  if (with_rates) {
    std::vector<std::string> rates =
        Rates(stats.total(), previous == nullptr ? nullptr : &previous->total(),
              elapsed);
    total.insert(total.end(), rates.begin(), rates.end());
  }
  total.push_back("");
  table.AddRow(std::move(total));

  std::string text = table.Render();
  absl::StrAppend(&text, "replicas answered: ", stats.replicas_answered(),
                  " of ", stats.replicas_size(), "\n");
  const uint64_t looked_up =
      stats.total().computed() + stats.total().from_cache();
  if (looked_up == 0) {
    absl::StrAppend(&text, "hit ratio: - (no units yet)\n");
  } else {
    absl::StrAppendFormat(
        &text, "hit ratio: %.1f%% (from_cache / (computed + from_cache))\n",
        100.0 * static_cast<double>(stats.total().from_cache()) / looked_up);
  }
  absl::StrAppend(&text, "units resent: ", stats.units_resent(), "\n");
  return text;
}

}  // namespace

std::string FormatStatsTable(const v1::ClusterStats& stats) {
  return Render(stats, nullptr, absl::ZeroDuration(), /*with_rates=*/false);
}

std::string FormatStatsTable(const v1::ClusterStats& stats,
                             const v1::ClusterStats* previous,
                             absl::Duration elapsed) {
  return Render(stats, previous, elapsed, /*with_rates=*/true);
}

}  // namespace pieces::client
