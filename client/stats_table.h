// `pieces stats` and `pieces watch`: a ClusterStats as a table, one row per
// work_service replica, the totals, the hit ratio and the units resent.
//
//   address          routable  sessions  computed  from_cache  waited  failed
//   cache_entries  error 127.0.0.1:50052  yes              0      1000 1000 0
//   0           1000 total                             0      1000        1000
//   0       0           1000 replicas answered: 1 of 1 hit ratio: 50.0%
//   (from_cache / (computed + from_cache)) units resent: 0
//
// sessions are the sessions open now. With a previous ClusterStats (watch),
// two columns more give the rates since then: computed/s and from_cache/s
// ("-" for a replica that was not there, or whose counters went back, as
// when it restarted). The functions keep no state; any thread.
#ifndef PIECES_CLIENT_STATS_TABLE_H_
#define PIECES_CLIENT_STATS_TABLE_H_

#include <string>

#include "absl/time/time.h"
#include "pieces/v1/main_service.pb.h"

namespace pieces::client {

// The table for `stats`, ending with a newline.
std::string FormatStatsTable(const v1::ClusterStats& stats);

// The table with rates since `previous`, taken `elapsed` before `stats`;
// without `previous` (the first refresh) the rate columns show "-".
std::string FormatStatsTable(const v1::ClusterStats& stats,
                             const v1::ClusterStats* previous,
                             absl::Duration elapsed);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_STATS_TABLE_H_
