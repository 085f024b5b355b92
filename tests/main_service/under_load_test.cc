// Faults under steady load, against the real binaries: three work_service
// replicas behind one main_service, 8 callers sending 100-key Runs
// (`sleep:1ms` work, fresh keys, a generous deadline) while replicas are
// restarted in turn (a rolling restart), or frozen, killed and stopped at
// random (a chaos run). No call may fail, and every reply must hold each of
// its keys once, with the right value, in request order.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/joining_thread.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"

namespace pieces {
namespace {

using ::pieces::testing::CallRun;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::RunRequestOf;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;

constexpr bool kSanitized = sizeof(PIECES_SANITIZE) > 1;

// The callers' tally, guarded by its mutex.
struct Tally {
  absl::Mutex mu;
  int calls ABSL_GUARDED_BY(mu) = 0;
  int failed ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;

  // Waits until `n` more calls have succeeded (or one failed).
  void AwaitMore(int n) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    const int target = calls + n;
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return calls >= target || failed > 0;
    };
    mu.Await(absl::Condition(&reached));
  }
};

// Whether main routes to every replica again and each answers.
bool AllRoutable(v1::MainService::Stub& stub, size_t replicas) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::ClusterStats stats;
  if (!stub.GetClusterStats(&context, v1::GetClusterStatsRequest(), &stats)
           .ok()) {
    return false;
  }
  return stats.replicas_answered() == replicas &&
         std::all_of(stats.replicas().begin(), stats.replicas().end(),
                     [](const v1::ReplicaStats& r) { return r.routable(); });
}

constexpr int kReplicas = 3;
const std::vector<std::string> kWorkFlags = {"--work=sleep:1ms", "--threads=2",
                                             "--grace_period=60s"};

// Three replicas, main in front, and 8 callers that run until stopped.
class UnderLoad {
 public:
  UnderLoad() {
    std::vector<std::string> addresses;
    for (int i = 0; i < kReplicas; ++i) {
      works_.push_back(StartWorkServiceOrFail(kWorkFlags));
      addresses.push_back(works_.back().address);
    }
    main_ = StartMainServiceOrFail(
        {"--work_address=" + absl::StrJoin(addresses, ",")});
    stub_ = NewMainStub(main_.address);
    for (int c = 0; c < kCallers; ++c) {
      callers_.emplace_back([this, c] { Call(c); });
    }
  }
  // Stops the callers and waits for them.
  ~UnderLoad() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&tally_.mu);
      tally_.stop = true;
    }
    callers_.clear();
  }

  ServiceProcess& work(int i) { return works_[i]; }
  v1::MainService::Stub& stub() { return *stub_; }
  Tally& tally() { return tally_; }

  // Starts replica i again on its port and waits until main routes to every
  // replica again.
  void Restart(int i) {
    std::vector<std::string> flags = kWorkFlags;
    flags.push_back("--port=" + std::to_string(works_[i].port));
    works_[i] = StartWorkServiceOrFail(flags);
    AwaitAllRoutable();
  }

  void AwaitAllRoutable() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!AllRoutable(*stub_, kReplicas) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));  // Polling main's view.
    }
    ASSERT_TRUE(AllRoutable(*stub_, kReplicas));
  }

 private:
  static constexpr int kCallers = 8;

  // Caller c: a loop of 100-key Runs of keys of its own, fresh each time (so
  // that every replica computes), with a generous deadline.
  void Call(int c) {
    for (uint64_t r = 0;; ++r) {
      {
        absl::MutexLock lock(&tally_.mu);
        if (tally_.stop) return;
      }
      std::vector<uint64_t> keys(100);
      for (uint64_t i = 0; i < keys.size(); ++i) {
        keys[i] = c * 10'000'000 + r * 100 + i;
      }
      v1::RunReply reply;
      const grpc::Status status =
          CallRun(*stub_, RunRequestOf(keys), &reply, absl::Seconds(60));
      bool right = status.ok() && reply.results_size() == 100;
      for (int i = 0; right && i < reply.results_size(); ++i) {
        const v1::Result& result = reply.results(i);
        right = result.id() == static_cast<uint64_t>(i) &&
                result.key() == keys[i] && result.value() == keys[i] &&
                !result.has_error();
      }
      absl::MutexLock lock(&tally_.mu);
      if (!right) {
        ADD_FAILURE() << "caller " << c << ": " << status.error_message();
        ++tally_.failed;
        return;
      }
      ++tally_.calls;
    }
  }

  std::vector<ServiceProcess> works_;
  ServiceProcess main_;
  std::unique_ptr<v1::MainService::Stub> stub_;
  Tally tally_;
  std::list<JoiningThread> callers_;  // Last: stopped first.
};

TEST(UnderLoadTest, EveryReplicaRestartedInTurnFailsNoCall) {
  UnderLoad load;
  load.tally().AwaitMore(20);
  for (int i = 0; i < kReplicas; ++i) {
    const absl::Time start = absl::Now();
    // SIGTERM: the replica drains and exits 0 once main has ended its
    // sessions (and the callers' calls on it are answered).
    load.work(i).process->Signal(SIGTERM);
    absl::StatusOr<int> exit_code =
        load.work(i).process->AwaitExit(absl::Seconds(90));
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    EXPECT_EQ(*exit_code, 0);
    load.tally().AwaitMore(10);  // Calls go on with the other two.
    load.Restart(i);
    load.tally().AwaitMore(10);
    std::printf("replica %d restarted in %s\n", i,
                absl::FormatDuration(absl::Now() - start).c_str());
  }
  load.Stop();
  absl::MutexLock lock(&load.tally().mu);
  EXPECT_EQ(load.tally().failed, 0);
  std::printf("%d calls of 100 keys, %d failed\n", load.tally().calls,
              load.tally().failed);
}

TEST(UnderLoadTest, AChaosRunOfFreezesKillsAndStopsFailsNoCall) {
  // One fault at a time, on a replica picked at random, until the time is up:
  // a freeze (SIGSTOP, then SIGCONT after 1-4 s), a kill (SIGKILL, restarted
  // after 0-2 s) or a stop (SIGTERM: it drains and exits 0, then restarted).
  // After each, the next waits until main routes to all three again and some
  // calls went by. 60 s (30 s under a sanitizer, which slows every step).
  const absl::Duration length =
      kSanitized ? absl::Seconds(30) : absl::Seconds(60);
  const uint32_t seed = static_cast<uint32_t>(absl::ToUnixMicros(absl::Now()));
  std::printf("chaos seed %u\n", seed);
  std::mt19937 random(seed);
  UnderLoad load;
  int freezes = 0, kills = 0, stops = 0;
  load.tally().AwaitMore(20);
  for (const absl::Time end = absl::Now() + length; absl::Now() < end;) {
    const int i = static_cast<int>(random() % kReplicas);
    ChildProcess& process = *load.work(i).process;
    switch (random() % 3) {
      case 0:
        ++freezes;
        process.Signal(SIGSTOP);
        // How long the fault lasts: the point of the test, not a wait.
        absl::SleepFor(absl::Milliseconds(1000 + random() % 3000));
        process.Signal(SIGCONT);
        load.AwaitAllRoutable();
        break;
      case 1: {
        ++kills;
        process.Signal(SIGKILL);
        ASSERT_TRUE(process.AwaitExit(absl::Seconds(30)).ok());
        absl::SleepFor(absl::Milliseconds(random() % 2000));  // Down a while.
        load.Restart(i);
        break;
      }
      default: {
        ++stops;
        process.Signal(SIGTERM);
        absl::StatusOr<int> exit_code = process.AwaitExit(absl::Seconds(90));
        ASSERT_TRUE(exit_code.ok()) << exit_code.status();
        EXPECT_EQ(*exit_code, 0);
        load.Restart(i);
        break;
      }
    }
    load.tally().AwaitMore(5);
    absl::MutexLock lock(&load.tally().mu);
    if (load.tally().failed > 0) break;
  }
  load.Stop();
  absl::MutexLock lock(&load.tally().mu);
  EXPECT_EQ(load.tally().failed, 0);
  std::printf(
      "chaos: %d calls of 100 keys (%d units), %d faults (%d freezes, %d "
      "kills, %d stops), %d calls failed\n",
      load.tally().calls, load.tally().calls * 100, freezes + kills + stops,
      freezes, kills, stops, load.tally().failed);
}

}  // namespace
}  // namespace pieces
