// piece_tour: runs the same workloads against one running work_service and
// prints one row of scripts/tour.sh's table (a Markdown table row) about it.
// The service must run with --work=key_ms (a unit of key K sleeps K mod 10000
// ms), so that the tour chooses how long each unit takes.
//
//   piece_tour --target=localhost:50052
//
// The columns, each from its own workload (keys are fresh in each trial):
//   order     a session of six units, the slowest first, then Exit: are the
//             results in request order in every trial?
//   exited    is the Exited preceded by every result in every trial?
//   lost      results missing before the Exited, in all trials together.
//   per key   two units of one fresh key 40 ms long with spacers of a random
//             0-80 ms between them, one per other pool thread, so that the
//             second unit starts before or after the first is done, with even
//             odds; results read before the Exit: how many units
//             computed that key in a trial, the fewest and the most seen (1
//             means the cache coalesced them).
//   hot       unrelated 5 ms units on a second session while 200 units of one
//             100 ms key are outstanding on the first: their throughput until
//             the last hot unit is answered, as a ratio to their throughput
//             with no hot key.
//   tied      pool threads the hot key kept from unrelated work: threads
//             minus the threads that unrelated throughput needs, i.e.
//             threads * (1 - hot).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/work_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50052", "work_service address");
ABSL_FLAG(int32_t, trials, 10, "Trials of the order and per-key workloads");

namespace pieces {
namespace {

using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<v1::WorkMsg, v1::ResultMsg>;

uint64_t next_trial = 1;
// A key of its own that takes `ms` milliseconds under key_ms.
uint64_t FreshKey(uint64_t ms) { return next_trial++ * 10000 + ms; }

std::unique_ptr<v1::WorkService::Stub> NewStub(const std::string& target) {
  static std::atomic<int> channel{0};
  grpc::ChannelArguments args;
  // Its own connection, so that sessions do not share one.
  args.SetInt("pieces.tour_channel", channel.fetch_add(1));
  return v1::WorkService::NewStub(grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args));
}

v1::WorkMsg Work(uint64_t id, uint64_t key) {
  v1::WorkMsg message;
  message.mutable_work()->set_id(id);
  message.mutable_work()->set_key(key);
  return message;
}

v1::WorkMsg Exit() {
  v1::WorkMsg message;
  message.mutable_exit();
  return message;
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    absl::FPrintF(stderr, "piece_tour: %s: %s\n", what, status.error_message());
    std::exit(1);
  }
}

// Sends Work for `keys` then Exit, reads until the call ends.
std::vector<v1::ResultMsg> RunThenExit(v1::WorkService::Stub& stub,
                                       const std::vector<uint64_t>& keys) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub.Process(&context);
  for (size_t i = 0; i < keys.size(); ++i) stream->Write(Work(i, keys[i]));
  stream->Write(Exit());
  std::vector<v1::ResultMsg> messages;
  v1::ResultMsg message;
  while (stream->Read(&message)) messages.push_back(message);
  stream->WritesDone();
  Check(stream->Finish(), "a session");
  return messages;
}

struct OrderFigures {
  bool in_order = true;
  bool exited_last = true;
  int lost = 0;
  int sent = 0;
};

OrderFigures MeasureOrder(v1::WorkService::Stub& stub, int trials) {
  OrderFigures figures;
  for (int trial = 0; trial < trials; ++trial) {
    std::vector<uint64_t> keys;
    for (uint64_t ms : {60, 50, 40, 30, 20, 10}) keys.push_back(FreshKey(ms));
    const std::vector<v1::ResultMsg> messages = RunThenExit(stub, keys);
    uint64_t expected_id = 0;
    int before_exited = 0;
    for (const v1::ResultMsg& message : messages) {
      if (message.has_exited()) break;
      if (!message.has_result()) continue;
      if (message.result().id() != expected_id++) figures.in_order = false;
      ++before_exited;
    }
    figures.sent += keys.size();
    figures.lost += keys.size() - before_exited;
    if (before_exited != static_cast<int>(keys.size())) {
      figures.exited_last = false;
      figures.in_order = false;  // Not every result came at all.
    }
  }
  return figures;
}

// Sends Work for `keys`, reads their results, then sends Exit (so that
// stage 2 loses none) and reads until the call ends.
std::vector<v1::ResultMsg> RunReadThenExit(v1::WorkService::Stub& stub,
                                           const std::vector<uint64_t>& keys) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub.Process(&context);
  for (size_t i = 0; i < keys.size(); ++i) stream->Write(Work(i, keys[i]));
  std::vector<v1::ResultMsg> messages;
  v1::ResultMsg message;
  size_t results = 0;
  while (results < keys.size() && stream->Read(&message)) {
    if (message.has_result()) ++results;
    messages.push_back(message);
  }
  stream->Write(Exit());
  while (stream->Read(&message)) messages.push_back(message);
  stream->WritesDone();
  Check(stream->Finish(), "a session");
  return messages;
}

struct PerKeyFigures {
  int fewest = 0;
  int most = 0;
};

// The fewest and the most units that computed one key in a trial.
PerKeyFigures MeasureComputationsPerKey(v1::WorkService::Stub& stub, int trials,
                                        size_t threads) {
  std::mt19937 random(std::random_device{}());
  PerKeyFigures figures{2, 0};
  for (int trial = 0; trial < trials; ++trial) {
    // The key, a spacer on every other pool thread, the key again: the
    // second unit of the key starts when the spacers end.
    const uint64_t key = FreshKey(40);
    const uint64_t spacer_ms =
        std::uniform_int_distribution<uint64_t>(0, 80)(random);
    std::vector<uint64_t> keys = {key};
    for (size_t i = 1; i < threads; ++i) keys.push_back(FreshKey(spacer_ms));
    keys.push_back(key);
    int computed = 0;
    for (const v1::ResultMsg& message : RunReadThenExit(stub, keys)) {
      if (message.has_result() && message.result().key() == key &&
          message.result().performed() == v1::PERFORMED_NEW) {
        ++computed;
      }
    }
    figures.fewest = std::min(figures.fewest, computed);
    figures.most = std::max(figures.most, computed);
  }
  return figures;
}

constexpr size_t kHotUnits = 200;
constexpr uint64_t kHotMs = 100;
constexpr size_t kUnrelatedUnits = 200;
constexpr uint64_t kUnrelatedMs = 5;

// Sends kUnrelatedUnits fresh 5 ms units on a session of its own, and Exit
// once they are answered; returns the arrival time of each result.
std::vector<Clock::time_point> RunUnrelated(const std::string& target) {
  auto stub = NewStub(target);
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub->Process(&context);
  for (size_t i = 0; i < kUnrelatedUnits; ++i) {
    stream->Write(Work(i, FreshKey(kUnrelatedMs)));
  }
  // Exit only after every result: stage 2 would drop those still to come.
  std::vector<Clock::time_point> arrivals;
  v1::ResultMsg message;
  while (arrivals.size() < kUnrelatedUnits && stream->Read(&message)) {
    if (message.has_result()) arrivals.push_back(Clock::now());
  }
  stream->WritesDone();
  while (stream->Read(&message)) {
  }
  Check(stream->Finish(), "the unrelated session");
  return arrivals;
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Unrelated throughput while the hot key is outstanding, as a ratio to it
// without the hot key.
double MeasureHotKey(const std::string& target) {
  Clock::time_point start = Clock::now();
  std::vector<Clock::time_point> alone = RunUnrelated(target);
  const double rate_alone = alone.size() / Seconds(alone.back() - start);

  auto hot_stub = NewStub(target);
  grpc::ClientContext context;
  std::unique_ptr<Stream> hot = hot_stub->Process(&context);
  const uint64_t hot_key = FreshKey(kHotMs);
  for (size_t i = 0; i < kHotUnits; ++i) hot->Write(Work(i, hot_key));
  // Every hot unit is sent before any unrelated one.
  Clock::time_point hot_done;
  std::thread reader([&] {
    v1::ResultMsg message;
    size_t results = 0;
    while (results < kHotUnits && hot->Read(&message)) {
      if (message.has_result()) ++results;
    }
    hot_done = Clock::now();
    hot->WritesDone();  // As above: only once every result came.
    while (hot->Read(&message)) {
    }
  });
  start = Clock::now();
  std::vector<Clock::time_point> during = RunUnrelated(target);
  reader.join();
  Check(hot->Finish(), "the hot session");
  const int in_window =
      std::count_if(during.begin(), during.end(),
                    [&](Clock::time_point t) { return t <= hot_done; });
  const double rate_hot = in_window / Seconds(hot_done - start);
  return rate_hot / rate_alone;
}

int Main() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const int trials = absl::GetFlag(FLAGS_trials);
  auto stub = NewStub(target);
  grpc::ClientContext context;
  v1::Stats stats;
  Check(stub->GetStats(&context, v1::GetStatsRequest(), &stats), "GetStats");

  const OrderFigures order = MeasureOrder(*stub, trials);
  const PerKeyFigures per_key =
      MeasureComputationsPerKey(*stub, trials, stats.threads());
  const double hot = MeasureHotKey(target);
  const double tied =
      std::clamp(stats.threads() * (1 - hot), 0.0, double(stats.threads()));
  absl::PrintF(
      "| %s | %s | %s | %d of %d | %s | %.2f | %.1f of %d |\n",
      stats.piece() == 0 ? "0 (own design)" : absl::StrCat(stats.piece()),
      order.in_order ? "yes" : "no", order.exited_last ? "yes" : "no",
      order.lost, order.sent,
      per_key.fewest == per_key.most
          ? absl::StrCat(per_key.most)
          : absl::StrCat(per_key.fewest, " or ", per_key.most),
      hot, tied, stats.threads());
  return 0;
}

}  // namespace
}  // namespace pieces

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return pieces::Main();
}
