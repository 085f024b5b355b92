#include "client/commands.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/format.h"
#include "client/progress.h"
#include "client/run_summary.h"
#include "client/stats_table.h"
#include "grpcpp/grpcpp.h"

namespace pieces::client {
namespace {

void SetDeadline(grpc::ClientContext* context, absl::Duration deadline) {
  if (deadline != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  }
}

std::string DescribeFailure(const char* method, const std::string& address,
                            const grpc::Status& status) {
  return absl::StrCat(method, " to ", address,
                      " failed: ", StatusCodeName(status.error_code()), ": ",
                      status.error_message());
}

// Prints and counts the results of RunStream as they come.
class ResultSink {
 public:
  ResultSink(const RunOptions& options, const Output& output,
             ProgressLine* progress)
      : options_(options), output_(output), progress_(progress) {}

  void Take(const v1::Result& result) {
    tally_.Add(result);
    switch (options_.results) {
      case RunOptions::Results::kJson:
        absl::FPrintF(output_.out, "%s\n", ResultJson(result));
        break;
      case RunOptions::Results::kText:
        absl::FPrintF(output_.out, "%s\n", ResultText(result));
        break;
      case RunOptions::Results::kSummaryOnly:
        break;
    }
    if (progress_ != nullptr) progress_->Add(1);
  }

  const RunTally& tally() const { return tally_; }

 private:
  const RunOptions& options_;
  const Output& output_;
  ProgressLine* const progress_;
  RunTally tally_;
};

}  // namespace

int RunKeys(v1::MainService::StubInterface& stub, const RunOptions& options,
            const Output& output) {
  v1::RunRequest request;
  request.mutable_keys()->Add(options.keys.begin(), options.keys.end());
  grpc::ClientContext context;
  SetDeadline(&context, options.deadline);

  const absl::Time start = absl::Now();
  std::optional<ProgressLine> progress;
  if (options.progress) progress.emplace(output.err, options.keys.size());
  ResultSink sink(options, output, progress ? &*progress : nullptr);

  std::unique_ptr<grpc::ClientReaderInterface<v1::ResultMsg>> reader =
      stub.RunStream(&context, request);
  v1::ResultMsg message;
  while (reader->Read(&message)) {
    if (message.has_result()) {
      sink.Take(message.result());
    } else if (message.has_batch()) {
      for (const v1::Result& result : message.batch().results()) {
        sink.Take(result);
      }
    }
    // Exited is last, and Finish tells how the call ended; Draining is for
    // main_service's own sessions.
  }
  const grpc::Status status = reader->Finish();
  const absl::Duration wall_time = absl::Now() - start;
  if (progress) progress->Stop();
  std::fflush(output.out);

  const bool results_only =
      options.results != RunOptions::Results::kSummaryOnly;
  FILE* summary_to = results_only || !status.ok() ? output.err : output.out;
  // A call that failed before any result has nothing to sum up.
  if (status.ok() || sink.tally().results > 0) {
    absl::FPrintF(
        summary_to, "%s",
        FormatRunSummary(sink.tally(), options.keys.size(), wall_time));
  }
  if (!status.ok()) {
    absl::FPrintF(output.err, "pieces: %s\n",
                  DescribeFailure("RunStream", options.address, status));
    return kExitCallFailed;
  }
  return sink.tally().failed == 0 ? kExitOk : kExitSomeFailed;
}

int ShowStats(v1::MainService::StubInterface& stub, const StatsOptions& options,
              const Output& output) {
  grpc::ClientContext context;
  SetDeadline(&context, options.deadline);
  v1::ClusterStats stats;
  const grpc::Status status =
      stub.GetClusterStats(&context, v1::GetClusterStatsRequest(), &stats);
  if (!status.ok()) {
    absl::FPrintF(output.err, "pieces: %s\n",
                  DescribeFailure("GetClusterStats", options.address, status));
    return kExitCallFailed;
  }
  absl::FPrintF(output.out, "%s", FormatStatsTable(stats));
  return kExitOk;
}

int Watch(v1::MainService::StubInterface& stub, const WatchOptions& options,
          const Output& output) {
  std::optional<v1::ClusterStats> previous;
  absl::Time previous_time;
  for (;;) {
    const absl::Time refresh = absl::Now();
    grpc::ClientContext context;
    SetDeadline(&context, options.stats.deadline);
    v1::ClusterStats stats;
    const grpc::Status status =
        stub.GetClusterStats(&context, v1::GetClusterStatsRequest(), &stats);
    const absl::Time now = absl::Now();

    std::string screen = absl::StrFormat(
        "pieces watch %s, every %s, %s (Ctrl-C to stop)\n\n",
        options.stats.address, absl::FormatDuration(options.interval),
        absl::FormatTime("%H:%M:%S", now, absl::LocalTimeZone()));
    if (status.ok()) {
      absl::StrAppend(&screen,
                      FormatStatsTable(stats, previous ? &*previous : nullptr,
                                       now - previous_time));
      previous = std::move(stats);
      previous_time = now;
    } else {
      absl::StrAppend(
          &screen,
          DescribeFailure("GetClusterStats", options.stats.address, status),
          "\n");
    }
    // On a terminal: cursor home, clear the screen, draw; elsewhere one
    // table after the other, a blank line between.
    absl::FPrintF(output.out, "%s%s%s", options.terminal ? "\033[H\033[2J" : "",
                  screen, options.terminal ? "" : "\n");
    std::fflush(output.out);

    // Sleep until the next refresh, or until a stop signal.
    const absl::Time next = refresh + options.interval;
    for (;;) {
      const absl::Duration left = next - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      const timespec timeout = absl::ToTimespec(left);
      const int signal = sigtimedwait(&options.stop_signals, nullptr, &timeout);
      if (signal > 0) return kExitOk;
      if (signal < 0 && errno != EINTR && errno != EAGAIN) {
        absl::FPrintF(output.err, "pieces: sigtimedwait: %s\n",
                      std::strerror(errno));
        return kExitCallFailed;
      }
    }
  }
}

}  // namespace pieces::client
