// Case 5, batching (reference only): the bare echo stream with 16 units per
// message, paired with 1 unit per message and the same number of messages in
// flight; then Process sessions on cached keys sending WorkBatch messages of
// 16 units, beside both. No goal: Process cannot batch without a contract
// change.
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "bench/cases/cases.h"
#include "bench/figure_text.h"

namespace pieces::bench {

absl::Status RunBatchingReference(Suite& suite) {
  constexpr int kUnitsPerMessage = 16;
  constexpr uint64_t kKeys = 1024;
  const Settings& settings = suite.settings();
  Report& report = suite.report();
  if (absl::Status s = suite.EnsureEcho(); !s.ok()) return s;
  absl::StatusOr<Connected<v1::WorkService>> work =
      suite.StartConnectedWork({"--work=echo"});
  if (!work.ok()) return work.status();
  if (absl::Status s = RunSession(
          work->stub.get(), kKeys, [](uint64_t id) { return id; },
          settings.window, "cache fill");
      !s.ok()) {
    return s;
  }
  // As many messages in flight as the one-unit streams have.
  StreamOptions batched;
  batched.window = settings.window * kUnitsPerMessage;
  batched.units_per_message = kUnitsPerMessage;
  Echo::Stub* echo_stub = suite.echo_stub();
  StreamOptions batched_cached = batched;
  batched_cached.key = [](uint64_t id) { return id % kKeys; };
  for (int streams : {1, 8}) {
    const MeasureFn echo_batch = suite.StreamLoad<EchoBatchTraits>(
        streams, suite.EchoServers(), batched,
        [echo_stub](grpc::ClientContext* context, auto* reactor) {
          echo_stub->async()->StreamBatch(context, reactor);
        },
        "echo batch stream");
    const MeasureFn process_batch = suite.StreamLoad<ProcessBatchTraits>(
        streams, {work->service.process.get()}, batched_cached,
        ProcessStarter<ProcessBatchTraits>(work->stub.get()),
        "batched cache-hit sessions");
    absl::StatusOr<Paired> paired =
        MeasurePaired(settings.rounds, suite.EchoStreams(streams), echo_batch);
    if (!paired.ok()) return paired.status();
    report.Add(Figure("5 batching",
                      absl::StrCat("bare echo stream, 16 units/msg, ",
                                   Plural(streams, "stream", "streams")),
                      RateText(paired->subject, "units"))
                   .Ratio(paired->ratio,
                          absl::StrCat("of echo x", streams, " (1 unit/msg)")));
    report.Note(AlongsideText("echo", *paired, "msgs"));
    suite.NoteIfAny(PairUsage(*paired, "1 unit/msg", "16 units/msg", "unit"));

    absl::StatusOr<Paired> versus_single = MeasurePaired(
        settings.rounds, suite.EchoStreams(streams), process_batch);
    if (!versus_single.ok()) return versus_single.status();
    report.Add(Figure("5 batching",
                      absl::StrCat("Process, all keys cached, 16 units/msg, ",
                                   Plural(streams, "session", "sessions")),
                      RateText(versus_single->subject, "results"))
                   .Ratio(versus_single->ratio,
                          absl::StrCat("of echo x", streams, " (1 unit/msg)"))
                   .Goal("ratio >= 10", versus_single->ratio >= 10));
    absl::StatusOr<Paired> versus_batched =
        MeasurePaired(settings.rounds, echo_batch, process_batch);
    if (!versus_batched.ok()) return versus_batched.status();
    report.Add(Figure("5 batching",
                      absl::StrCat("the same beside batched echo, ",
                                   Plural(streams, "session", "sessions")),
                      RateText(versus_batched->subject, "results"))
                   .Ratio(versus_batched->ratio,
                          absl::StrCat("of batched echo x", streams))
                   .Goal("ratio >= 0.50", versus_batched->ratio >= 0.5));
    report.Note(AlongsideText("batched echo", *versus_batched, "units"));
  }
  return absl::OkStatus();
}

}  // namespace pieces::bench
