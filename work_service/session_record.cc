#include "work_service/session_record.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging/event_log.h"

namespace pieces {

SessionRecord::SessionRecord(UnitTimes* times, std::string peer)
    : times_(times), peer_(std::move(peer)), start_(UnitTimes::Now()) {}

void SessionRecord::LogEnd(const grpc::Status& status) const {
  const double seconds = static_cast<double>(UnitTimes::Now() - start_) / 1e9;
  const uint64_t units =
      counts_[UnitTimes::kNew] + counts_[UnitTimes::kCached] +
      counts_[UnitTimes::kFailed] + counts_[UnitTimes::kCancelled];
  const std::string code =
      status.ok() ? "OK" : absl::StrCat(status.error_code());
  LogEvent(
      "session_end",
      absl::StrFormat(
          "work_service: session from %s ended: %d units (%d new, %d cached, "
          "%d waited, %d failed, %d cancelled), status %s%s in %.3fs",
          peer_, units, counts_[UnitTimes::kNew], counts_[UnitTimes::kCached],
          counts_[UnitTimes::kWaited], counts_[UnitTimes::kFailed],
          counts_[UnitTimes::kCancelled], code,
          status.ok() ? "" : absl::StrCat(" (", status.error_message(), ")"),
          seconds),
      {{"peer", peer_},
       {"units", units},
       {"new", counts_[UnitTimes::kNew]},
       {"cached", counts_[UnitTimes::kCached]},
       {"waited", counts_[UnitTimes::kWaited]},
       {"failed", counts_[UnitTimes::kFailed]},
       {"cancelled", counts_[UnitTimes::kCancelled]},
       {"code", static_cast<int>(status.error_code())},
       {"status", status.error_message()},
       {"duration_s", seconds}});
}

}  // namespace pieces
