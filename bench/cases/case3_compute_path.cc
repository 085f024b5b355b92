// Case 3, the compute path: for each N of --cpu_rounds, two work_services
// (--work=cpu:N, --threads=1 and --threads=2), one session each sending fresh
// keys, and the bare computation (MixRounds with N) on 1 and 2 threads of the
// benchmark, all four in the same alternating rounds. The figure is the
// services' 2-thread / 1-thread ratio, beside the machine's own ratio of the
// same minutes.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/cases/cases.h"
#include "bench/figure_text.h"
#include "work_service/work_function.h"

namespace pieces::bench {
namespace {

// What this machine gives `threads` threads that only compute, as case 3's
// work does (MixRounds with `rounds`), in units per second: the reference
// for case 3's ratio. On a machine whose other users keep the cores busy,
// 2 threads get less than twice what 1 thread gets, and no service can do
// better than that.
MeasureFn ComputeOnly(const Settings& settings, int threads, uint64_t rounds) {
  return [warmup = settings.warmup, measure = settings.measure, threads,
          rounds]() -> absl::StatusOr<Sample> {
    std::atomic<uint64_t> done{0};
    std::atomic<bool> counting{false};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> sink{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        uint64_t key = static_cast<uint64_t>(t) << 40;
        while (!stop.load(std::memory_order_relaxed)) {
          sink.fetch_add(MixRounds(key++, rounds), std::memory_order_relaxed);
          if (counting.load(std::memory_order_relaxed)) {
            done.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    absl::SleepFor(warmup);
    counting.store(true);
    const absl::Time begin = absl::Now();
    absl::SleepFor(measure);
    const uint64_t units = done.load();
    const absl::Time end = absl::Now();
    stop.store(true);
    for (std::thread& worker : workers) worker.join();
    Sample sample;
    sample.rate =
        static_cast<double>(units) / absl::ToDoubleSeconds(end - begin);
    return sample;
  };
}

// " (rounds 0.80-0.95)": the range, over single rounds, of the services'
// ratio over the machine's; "" with fewer than two rounds. `all` is
// {--threads=1, --threads=2, bare 1 thread, bare 2 threads}.
std::string OfMachineRounds(const std::vector<Summary>& all) {
  std::vector<double> of_machine;
  for (size_t i = 0; i < all[0].samples.size(); ++i) {
    const double one_thread = all[0].samples[i].rate;
    const double bare_ratio =
        all[2].samples[i].rate > 0
            ? all[3].samples[i].rate / all[2].samples[i].rate
            : 0;
    if (one_thread > 0 && bare_ratio > 0) {
      of_machine.push_back(all[1].samples[i].rate / one_thread / bare_ratio);
    }
  }
  if (of_machine.size() <= 1) return "";
  return absl::StrCat(
      " (rounds ",
      TwoDecimals(*std::min_element(of_machine.begin(), of_machine.end())), "-",
      TwoDecimals(*std::max_element(of_machine.begin(), of_machine.end())),
      ")");
}

// Case 3 for --work=cpu:`rounds`: the two services and the bare
// computation with 1 and 2 threads, all four in the same alternating
// rounds, so that each service ratio stands beside the machine's own ratio
// of the same minutes.
absl::Status RunComputePathWith(Suite& suite, uint64_t rounds) {
  const std::string work = absl::StrCat("--work=cpu:", rounds);
  // Both services run at once; the rounds alternate between them.
  absl::StatusOr<Connected<v1::WorkService>> one =
      suite.StartConnectedWork({work, "--threads=1"});
  if (!one.ok()) return one.status();
  absl::StatusOr<Connected<v1::WorkService>> two =
      suite.StartConnectedWork({work, "--threads=2"});
  if (!two.ok()) return two.status();
  // Fresh keys: every unit computes.
  auto fresh = [](std::shared_ptr<std::atomic<uint64_t>> next) {
    return [next](uint64_t) { return next->fetch_add(1); };
  };
  absl::StatusOr<std::vector<Summary>> all = MeasureAlternating(
      suite.settings().rounds,
      {suite.ProcessSessions(*one, 1,
                             fresh(std::make_shared<std::atomic<uint64_t>>(1)),
                             "compute sessions, 1 thread"),
       suite.ProcessSessions(*two, 1,
                             fresh(std::make_shared<std::atomic<uint64_t>>(1)),
                             "compute sessions, 2 threads"),
       ComputeOnly(suite.settings(), 1, rounds),
       ComputeOnly(suite.settings(), 2, rounds)});
  if (!all.ok()) return all.status();
  const Paired paired = PairOf((*all)[0], (*all)[1]);
  const Paired machine = PairOf((*all)[2], (*all)[3]);
  for (const Connected<v1::WorkService>* service : {&*one, &*two}) {
    absl::StatusOr<v1::Stats> stats = GetStats(*service->stub);
    if (!stats.ok()) return stats.status();
    if (stats->from_cache() != 0 || stats->computed() == 0) {
      return absl::InternalError(
          "compute case: a fresh key came from the cache");
    }
  }
  Report& report = suite.report();
  const std::string cpu = absl::StrCat("cpu:", rounds);
  report.Add(Figure(
      "3 compute",
      absl::StrCat("Process, ", cpu, ", fresh keys, 1 session, --threads=1"),
      RateText(paired.ceiling, "results")));
  report.Add(Figure(
      "3 compute",
      absl::StrCat("Process, ", cpu, ", fresh keys, 1 session, --threads=2"),
      RateText(paired.subject, "results")));
  report.Add(Figure("3 compute",
                    absl::StrCat(cpu, ": throughput 2 threads / 1 thread"),
                    TwoDecimals(paired.ratio))
                 .Ratio(paired.ratio, "(2-thread / 1-thread)")
                 .Goal("ratio >= 1.80", paired.ratio >= 1.8));
  report.Note(RatioRange(paired));
  suite.NoteIfAny(PairUsage(paired, "--threads=1", "--threads=2", "unit"));

  // The machine's own ratio, in the same rounds.
  report.Add(Figure("3 compute",
                    absl::StrCat(cpu,
                                 ": reference, bare computation in this "
                                 "process, 2 threads / 1 thread, same "
                                 "rounds"),
                    TwoDecimals(machine.ratio))
                 .Ratio(machine.ratio, "(what the machine allows)"));
  // The service's ratio over the machine's, round by round.
  report.Note(absl::StrCat(
      "bare 1 thread ", RateText(machine.ceiling, "units"), ", 2 threads ",
      RateText(machine.subject, "units"), "; ", RatioRange(machine),
      "; the service's ratio ", TwoDecimals(paired.ratio), " is ",
      TwoDecimals(machine.ratio > 0 ? paired.ratio / machine.ratio : 0),
      " of the machine's ", TwoDecimals(machine.ratio), OfMachineRounds(*all)));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunComputePath(Suite& suite) {
  for (uint64_t rounds : suite.settings().cpu_rounds) {
    if (absl::Status s = RunComputePathWith(suite, rounds); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace pieces::bench
