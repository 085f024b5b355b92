#include "work_service/unit_times.h"

#include <memory>

namespace pieces {

const char* UnitTimes::OutcomeName(Outcome outcome) {
  switch (outcome) {
    case kNew:
      return "new";
    case kCached:
      return "cached";
    case kWaited:
      return "waited";
    case kFailed:
      return "failed";
    case kCancelled:
    case kOutcomes:
      break;
  }
  return "cancelled";
}

UnitTimes::UnitTimes() {
  for (auto& histogram : histograms_) {
    histogram =
        std::make_unique<ShardedHistogram>(ShardedHistogram::UnitBounds());
  }
}

UnitTimes::Outcome UnitTimes::Observe(
    const std::optional<KeyedCache::Outcome>& outcome, int64_t arrived) {
  const int64_t nanos = Now() - arrived;
  Outcome kind;
  if (!outcome.has_value()) {
    kind = kCancelled;
  } else if (!outcome->value.ok()) {
    kind = kFailed;
  } else if (outcome->computed) {
    kind = kNew;
  } else {
    kind = kCached;
  }
  if (outcome.has_value() && outcome->waited) {
    histograms_[kWaited]->Observe(nanos);
  }
  histograms_[kind]->Observe(nanos);
  return kind;
}

}  // namespace pieces
