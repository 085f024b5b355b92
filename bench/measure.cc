#include "measure.h"

#include <utility>

namespace pieces::bench {

void UsageMeter::AddTo(uint64_t units, Sample* sample) const {
  if (servers_.empty() || units == 0) return;
  sample->has_usage = true;
  sample->cpu_us_per_unit =
      absl::ToDoubleMicroseconds(stop_.cpu - start_.cpu) / units;
  sample->switches_per_unit =
      static_cast<double>(stop_.context_switches - start_.context_switches) /
      units;
}

absl::Status UsageMeter::Read(ChildProcess::Usage* usage) const {
  ChildProcess::Usage total;
  for (const ChildProcess* server : servers_) {
    absl::StatusOr<ChildProcess::Usage> one = server->ReadUsage();
    if (!one.ok()) return one.status();
    total.cpu += one->cpu;
    total.context_switches += one->context_switches;
  }
  *usage = total;
  return absl::OkStatus();
}

absl::StatusOr<Sample> MeasureUnary(
    int callers, absl::Duration warmup, absl::Duration measure,
    const std::vector<const ChildProcess*>& servers, const UnaryCallFn& call,
    absl::string_view what) {
  UsageMeter meter(servers);
  absl::Status usage = absl::OkStatus();
  UnaryLoadOptions load;
  load.callers = callers;
  load.warmup = warmup;
  load.measure = measure;
  load.at_window_open = [&] { usage = meter.Start(); };
  load.at_window_close = [&] {
    if (usage.ok()) usage = meter.Stop();
  };
  UnaryLoadResult result = RunUnaryLoad(load, call);
  if (result.errors > 0) {
    return absl::InternalError(
        absl::StrCat(what, ": ", result.errors,
                     " calls failed; the first: ", result.first_error));
  }
  if (!usage.ok()) return usage;
  Sample sample;
  sample.rate = result.calls_per_second;
  sample.p50 = result.p50;
  sample.p99 = result.p99;
  meter.AddTo(result.calls, &sample);
  return sample;
}

}  // namespace pieces::bench
