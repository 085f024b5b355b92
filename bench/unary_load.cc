#include "unary_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace pieces::bench {
namespace {

enum Phase { kWarmup, kMeasure, kStop };

// Shared by the callers of one load.
struct LoadState {
  std::atomic<int> phase{kWarmup};
  absl::Mutex mu;
  int active ABSL_GUARDED_BY(mu) = 0;
  uint64_t errors ABSL_GUARDED_BY(mu) = 0;
  std::string first_error ABSL_GUARDED_BY(mu);
};

// One caller: one call in flight; the next starts from the last's callback.
class Caller {
 public:
  Caller(int index, LoadState* state, const UnaryCallFn* call)
      : index_(index), state_(state), call_(call) {
    latencies_.reserve(1 << 14);
  }

  void Issue() {
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(30));
    start_ = absl::Now();
    (*call_)(index_, context_.get(),
             [this](grpc::Status status) { Done(std::move(status)); });
  }

  const std::vector<absl::Duration>& latencies() const { return latencies_; }

 private:
  void Done(grpc::Status status) {
    const absl::Duration latency = absl::Now() - start_;
    const int phase = state_->phase.load(std::memory_order_acquire);
    if (!status.ok()) {
      absl::MutexLock lock(&state_->mu);
      if (state_->errors++ == 0) {
        state_->first_error =
            absl::StrCat(status.error_code(), ": ", status.error_message());
      }
    } else if (phase == kMeasure) {
      latencies_.push_back(latency);
    }
    if (phase == kStop) {
      absl::MutexLock lock(&state_->mu);
      --state_->active;
      return;
    }
    Issue();
  }

  const int index_;
  LoadState* const state_;
  const UnaryCallFn* const call_;
  std::unique_ptr<grpc::ClientContext> context_;
  absl::Time start_;
  // Latencies of the calls completed in the window; touched only by this
  // caller's callbacks, one at a time, and read after the load stops.
  std::vector<absl::Duration> latencies_;
};

}  // namespace

UnaryLoadResult RunUnaryLoad(const UnaryLoadOptions& options,
                             const UnaryCallFn& call) {
  LoadState state;
  std::vector<std::unique_ptr<Caller>> callers;
  for (int i = 0; i < options.callers; ++i) {
    callers.push_back(std::make_unique<Caller>(i, &state, &call));
  }
  {
    absl::MutexLock lock(&state.mu);
    state.active = options.callers;
  }
  for (auto& caller : callers) caller->Issue();

  absl::SleepFor(options.warmup);
  if (options.at_window_open) options.at_window_open();
  const absl::Time begin = absl::Now();
  state.phase.store(kMeasure, std::memory_order_release);
  absl::SleepFor(options.measure);
  state.phase.store(kStop, std::memory_order_release);
  const absl::Time end = absl::Now();
  if (options.at_window_close) options.at_window_close();

  UnaryLoadResult result;
  {
    absl::MutexLock lock(&state.mu);
    auto all_done = [&state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu) {
      return state.active == 0;
    };
    state.mu.Await(absl::Condition(&all_done));
    result.errors = state.errors;
    result.first_error = state.first_error;
  }

  std::vector<absl::Duration> latencies;
  for (const auto& caller : callers) {
    latencies.insert(latencies.end(), caller->latencies().begin(),
                     caller->latencies().end());
  }
  result.calls = latencies.size();
  result.calls_per_second =
      static_cast<double>(result.calls) / absl::ToDoubleSeconds(end - begin);
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    auto at = [&latencies](double q) {
      size_t i = static_cast<size_t>(q * (latencies.size() - 1) + 0.5);
      return latencies[std::min(i, latencies.size() - 1)];
    };
    result.p50 = at(0.50);
    result.p99 = at(0.99);
  }
  return result;
}

}  // namespace pieces::bench
