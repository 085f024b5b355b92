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

absl::StatusOr<Sample> CountWindow(
    const std::atomic<uint64_t>& answered, absl::Duration warmup,
    absl::Duration measure, const std::vector<const ChildProcess*>& servers) {
  absl::SleepFor(warmup);
  UsageMeter meter(servers);
  absl::Status status = meter.Start();
  const uint64_t before = answered.load();
  const absl::Time begin = absl::Now();
  absl::SleepFor(measure);
  const uint64_t after = answered.load();
  const absl::Time end = absl::Now();
  if (status.ok()) status = meter.Stop();
  if (!status.ok()) return status;
  Sample sample;
  sample.rate =
      static_cast<double>(after - before) / absl::ToDoubleSeconds(end - begin);
  meter.AddTo(after - before, &sample);
  return sample;
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

MeasureFn GhzLoad(const GhzOptions& options,
                  std::vector<const ChildProcess*> servers,
                  int units_per_call) {
  return [options, servers = std::move(servers),
          units_per_call]() -> absl::StatusOr<Sample> {
    UsageMeter meter(servers);
    if (absl::Status s = meter.Start(); !s.ok()) return s;
    absl::StatusOr<GhzResult> result = RunGhz(options);
    if (!result.ok()) return result.status();
    if (absl::Status s = meter.Stop(); !s.ok()) return s;
    if (result->errors > 0) {
      return absl::InternalError(absl::StrCat(
          "ghz: ", options.call, " calls failed:\n", result->summary));
    }
    Sample sample;
    sample.rate = result->calls_per_second * units_per_call;
    sample.p50 = result->p50;
    sample.p99 = result->p99;
    meter.AddTo(result->ok * units_per_call, &sample);
    return sample;
  };
}

}  // namespace pieces::bench
