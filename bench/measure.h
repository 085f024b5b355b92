// One measuring window of load: pipelined streams (MeasureStreams), short
// sessions one after another (MeasureSessionsInTurn), closed-loop unary
// callers (MeasureUnary) or ghz (GhzLoad), each giving a Sample with the
// rate, and, for the server processes named, what they used per unit or call
// answered (UsageMeter).
//
// Thread safety: each function runs its load on gRPC's threads and returns
// when the load is over; call them from one thread (the cases run on the
// main thread). A UsageMeter is used by one thread at a time.
#ifndef PIECES_BENCH_MEASURE_H_
#define PIECES_BENCH_MEASURE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/process/child_process.h"
#include "ghz.h"
#include "rounds.h"
#include "stream_load.h"
#include "unary_load.h"

namespace pieces::bench {

template <typename Traits>
using Streams = std::vector<std::unique_ptr<PipelinedStream<Traits>>>;

// Waits for every stream; the first non-OK status, or an error if any unit
// failed. `what` names the streams in the error.
template <typename Traits>
absl::Status AwaitStreams(const Streams<Traits>& streams,
                          absl::string_view what) {
  absl::Status first = absl::OkStatus();
  uint64_t failed = 0;
  for (const auto& stream : streams) {
    grpc::Status status = stream->Wait();
    failed += stream->units_failed();
    if (!status.ok() && first.ok()) {
      first = absl::InternalError(absl::StrCat(what, ": a stream ended with ",
                                               status.error_code(), " ",
                                               status.error_message()));
    }
  }
  if (first.ok() && failed > 0) {
    first = absl::InternalError(
        absl::StrCat(what, ": ", failed, " units came back with an error"));
  }
  return first;
}

// What the server processes of a measurement (none for the in-process echo
// server) use over its window: Start() as it opens, Stop() as it closes, then
// AddTo() with the units answered in it.
class UsageMeter {
 public:
  explicit UsageMeter(std::vector<const ChildProcess*> servers)
      : servers_(std::move(servers)) {}

  absl::Status Start() { return Read(&start_); }
  absl::Status Stop() { return Read(&stop_); }

  // Adds the usage per unit between Start() and Stop() to `sample`; nothing
  // if there are no servers or no units.
  void AddTo(uint64_t units, Sample* sample) const;

 private:
  absl::Status Read(ChildProcess::Usage* usage) const;

  const std::vector<const ChildProcess*> servers_;
  ChildProcess::Usage start_;
  ChildProcess::Usage stop_;
};

// Counts what `answered` gains over `measure`, after `warmup`, and what
// `servers` use meanwhile: the window of MeasureStreams and
// MeasureSessionsInTurn, whose load runs on other threads. An error if the
// usage cannot be read.
absl::StatusOr<Sample> CountWindow(
    const std::atomic<uint64_t>& answered, absl::Duration warmup,
    absl::Duration measure, const std::vector<const ChildProcess*>& servers);

// Measures the steady rate of answered units over `streams` streams, each a
// PipelinedStream<Traits> with `options` (whose `answered` it sets) bound by
// `start`: warms up for `warmup`, counts answers over `measure` (and what
// `servers` use meanwhile), then stops the streams and waits for them. An
// error if a stream fails (`what` names them) or the usage cannot be read.
template <typename Traits>
absl::StatusOr<Sample> MeasureStreams(
    int streams, StreamOptions options,
    const typename PipelinedStream<Traits>::StartFn& start,
    absl::Duration warmup, absl::Duration measure,
    const std::vector<const ChildProcess*>& servers, absl::string_view what) {
  std::atomic<uint64_t> answered{0};
  options.answered = &answered;
  Streams<Traits> list;
  for (int i = 0; i < streams; ++i) {
    list.push_back(std::make_unique<PipelinedStream<Traits>>(options, start));
  }
  absl::StatusOr<Sample> sample =
      CountWindow(answered, warmup, measure, servers);
  for (auto& stream : list) stream->Stop();
  absl::Status streams_status = AwaitStreams(list, what);
  if (!streams_status.ok()) return streams_status;
  return sample;
}

// Like MeasureStreams, but for short sessions: each of `lanes` lanes runs
// streams of `options.max_units` units (which must not be 0) one after
// another, a new call for each, so that a call's set-up and end are counted
// in every `max_units` units. Each lane is a thread of its own that waits for
// its stream; the streams themselves run on gRPC's threads.
template <typename Traits>
absl::StatusOr<Sample> MeasureSessionsInTurn(
    int lanes, StreamOptions options,
    const typename PipelinedStream<Traits>::StartFn& start,
    absl::Duration warmup, absl::Duration measure,
    const std::vector<const ChildProcess*>& servers, absl::string_view what) {
  if (options.max_units == 0) {
    return absl::InvalidArgumentError("sessions in turn need max_units");
  }
  std::atomic<uint64_t> answered{0};
  std::atomic<bool> stop{false};
  options.answered = &answered;
  std::vector<absl::Status> lane_status(lanes);
  std::vector<std::thread> threads;
  for (int i = 0; i < lanes; ++i) {
    threads.emplace_back([&, i] {
      while (!stop.load() && lane_status[i].ok()) {
        Streams<Traits> session;
        session.push_back(
            std::make_unique<PipelinedStream<Traits>>(options, start));
        lane_status[i] = AwaitStreams(session, what);
      }
    });
  }
  absl::StatusOr<Sample> sample =
      CountWindow(answered, warmup, measure, servers);
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : lane_status) {
    if (!status.ok()) return status;
  }
  return sample;
}

// The suite's closed-loop unary client (unary_load.h) on `call` with
// `callers` callers, warmed up for `warmup` and measured over `measure`, and
// what `servers` use while it measures. An error if any call fails (`what`
// names them) or the usage cannot be read.
absl::StatusOr<Sample> MeasureUnary(
    int callers, absl::Duration warmup, absl::Duration measure,
    const std::vector<const ChildProcess*>& servers, const UnaryCallFn& call,
    absl::string_view what);

// ghz with `options` as a measurement (ghz.h). ghz has no warm-up: what
// `servers` use is counted over its whole run. Each call answers
// `units_per_call` units (a stream call may carry many): the rate and the
// usage are per unit. An error if ghz fails or any call does.
MeasureFn GhzLoad(const GhzOptions& options,
                  std::vector<const ChildProcess*> servers,
                  int units_per_call = 1);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_MEASURE_H_
