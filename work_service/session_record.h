// What one Process session did, for the line logged when it ends (event
// session_end: peer, units by outcome, duration, status), and the time of
// each of its units (UnitTimes, for /metrics).
//
// Thread safety: none of its own. The session calls it with its mu_ held
// (or, for LogEnd, on a copy made under it).
#ifndef PIECES_WORK_SERVICE_SESSION_RECORD_H_
#define PIECES_WORK_SERVICE_SESSION_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/keyed_cache.h"
#include "grpcpp/support/status.h"
#include "work_service/unit_times.h"

namespace pieces {

class SessionRecord {
 public:
  // `times` outlives the record; `peer` is the client's address.
  SessionRecord(UnitTimes* times, std::string peer);

  // A unit answered from the cache on arrival.
  void HitOnArrival() {
    ++counts_[UnitTimes::kCached];
    times_->ObserveHitOnArrival();
  }
  // A unit that arrived at `arrived` is over (see UnitTimes::Observe).
  void Over(const std::optional<KeyedCache::Outcome>& outcome,
            int64_t arrived) {
    ++counts_[times_->Observe(outcome, arrived)];
    if (outcome.has_value() && outcome->waited) ++counts_[UnitTimes::kWaited];
  }
  // A unit that arrived at `arrived` was cancelled by its client.
  void Cancelled(int64_t arrived) {
    ++counts_[UnitTimes::kCancelled];
    times_->ObserveCancelled(arrived);
  }

  // Logs the session's end with `status` (one line).
  void LogEnd(const grpc::Status& status) const;

 private:
  UnitTimes* times_;
  std::string peer_;
  int64_t start_;  // UnitTimes::Now() at the session's start.
  // Units by outcome, as UnitTimes classifies them (kWaited: those that
  // waited, also counted in their outcome).
  uint64_t counts_[UnitTimes::kOutcomes] = {};
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_SESSION_RECORD_H_
