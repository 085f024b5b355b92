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

void UnitTimes::Observe(const std::optional<KeyedCache::Outcome>& outcome,
                        int64_t arrived) {
  const int64_t nanos = Now() - arrived;
  if (!outcome.has_value()) {
    histograms_[kCancelled]->Observe(nanos);
    return;
  }
  if (outcome->waited) histograms_[kWaited]->Observe(nanos);
  if (!outcome->value.ok()) {
    histograms_[kFailed]->Observe(nanos);
  } else if (outcome->computed) {
    histograms_[kNew]->Observe(nanos);
  } else {
    histograms_[kCached]->Observe(nanos);
  }
}

}  // namespace pieces
