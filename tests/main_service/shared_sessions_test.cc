// main_service's long-lived sessions to work_service, shared by every call
// (main_service/replica_link.h), against the real binaries: sharing, no call
// held back by another, cancellation and deadlines reaching work_service as
// Cancel messages, and the drain at both ends.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/gate.h"
#include "tests/testing/joining_thread.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CallRun;
using ::pieces::testing::ExpectAnswersInOrder;
using ::pieces::testing::Gate;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::KeyRange;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunRequestOf;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;

constexpr bool kSanitized = sizeof(PIECES_SANITIZE) > 1;

TEST(SharedSessionsTest, ConcurrentCallsShareOneSessionAndKeepTheirOrder) {
  ServiceProcess work = StartWorkServiceOrFail({"--work=echo", "--threads=2"});
  ServiceProcess main = StartMainServiceOrFail(
      {"--work_address=" + work.address, "--work_sessions=1"});
  auto stub = NewMainStub(main.address);
  // 8 callers at once, each 50 Runs of 20 keys: their units meet on the one
  // session (in shared batches) and each reply still has its own keys, in
  // order. Callers overlap in keys, so some are answered from the cache.
  constexpr int kCallers = 8, kRuns = 50, kKeys = 20;
  std::atomic<int> failed{0};
  {
    std::list<JoiningThread> callers;  // Not movable.
    for (int c = 0; c < kCallers; ++c) {
      callers.emplace_back([&, c] {
        for (int r = 0; r < kRuns; ++r) {
          const std::vector<uint64_t> keys = KeyRange(c * 7 + r * 3, kKeys);
          v1::RunReply reply;
          grpc::Status status = CallRun(*stub, RunRequestOf(keys), &reply);
          if (!status.ok()) {
            ADD_FAILURE() << status.error_message();
            ++failed;
            return;
          }
          ExpectAnswersInOrder(keys, reply);
        }
      });
    }
  }
  ASSERT_EQ(failed.load(), 0);
  absl::StatusOr<v1::Stats> stats =
      testing::GetStats(*NewWorkStub(work.address));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->sessions_total(), 1u);
  EXPECT_EQ(stats->sessions_active(), 1u);
  EXPECT_EQ(stats->work_received(), uint64_t{kCallers * kRuns * kKeys});
  EXPECT_EQ(stats->computed() + stats->from_cache(), stats->work_received());
}

TEST(SharedSessionsTest, ASmallRunIsNotHeldBackByABigOneOnTheSameReplica) {
  ServiceProcess work =
      StartWorkServiceOrFail({"--work=sleep:1ms", "--threads=2"});
  ServiceProcess main = StartMainServiceOrFail(
      {"--work_address=" + work.address, "--work_sessions=1"});
  auto stub = NewMainStub(main.address);
  auto work_stub = NewWorkStub(work.address);
  v1::RunReply reply;
  ASSERT_TRUE(CallRun(*stub, RunRequestOf({7}), &reply).ok());

  // 100,000 fresh keys at 1 ms each on 2 threads: about 50 s of work.
  grpc::ClientContext big;
  auto reader =
      stub->RunStream(&big, RunRequestOf(KeyRange(1'000'000, 100'000)));
  ASSERT_TRUE(AwaitStats(*work_stub, [](const v1::Stats& s) {
                return s.computed() >= 200;
              }).ok());

  // While it runs, 1-key Runs of the cached key, one after another.
  constexpr int kSmallRuns = 20;
  absl::Duration slowest;
  for (int i = 0; i < kSmallRuns; ++i) {
    const absl::Time start = absl::Now();
    ASSERT_TRUE(CallRun(*stub, RunRequestOf({7}), &reply).ok());
    slowest = std::max(slowest, absl::Now() - start);
    ASSERT_EQ(reply.results(0).performed(), v1::PERFORMED_FROM_CACHE);
  }
  absl::StatusOr<v1::Stats> during = testing::GetStats(*work_stub);
  ASSERT_TRUE(during.ok()) << during.status();
  // They went over the big one's session, and it is far from done.
  EXPECT_EQ(during->sessions_total(), 1u);
  EXPECT_LT(during->computed(), 50'000u);
  std::printf("slowest of %d 1-key Runs beside the big one: %s\n", kSmallRuns,
              absl::FormatDuration(slowest).c_str());
  // The bound. Not under a sanitizer, which slows every step tenfold.
  if (!kSanitized) {
    EXPECT_LT(slowest, absl::Milliseconds(50));
  }

  // Cancelling the big one gives up its units on work_service: the ones not
  // started are answered CANCELLED at once, and the session stays open.
  big.TryCancel();
  v1::ResultMsg message;
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  absl::StatusOr<v1::Stats> after = AwaitStats(
      *work_stub, [](const v1::Stats& s) { return s.in_flight() == 0; });
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GT(after->cancelled(), 0u);
  EXPECT_EQ(after->sessions_active(), 1u);
  EXPECT_EQ(after->work_received(), after->computed() + after->from_cache() +
                                        after->failed() + after->cancelled());
}

TEST(SharedSessionsTest, AFrozenCallersRunIsCancelledOnTheSharedSession) {
  // 40 units of 250 ms on one thread, 10 s of work: main's keepalive
  // (--keepalive_time=1s --keepalive_timeout=1s here) finds the frozen caller
  // out long before, and its units not started yet are cancelled. Its
  // results fit HTTP/2's window, so without keepalive main would go on
  // writing them and all 40 would be computed.
  ServiceProcess work =
      StartWorkServiceOrFail({"--work=sleep:250ms", "--threads=1"});
  ServiceProcess main =
      StartMainServiceOrFail({"--work_address=" + work.address,
                              "--keepalive_time=1s", "--keepalive_timeout=1s"});
  auto work_stub = NewWorkStub(work.address);
  absl::StatusOr<std::unique_ptr<ChildProcess>> caller =
      testing::StartTestProcess(PIECES_HOLD_SESSION_BIN,
                                {"--service=main", "--address=" + main.address,
                                 "--key=5000", "--keys=40"});
  ASSERT_TRUE(caller.ok()) << caller.status();
  // A stopped process cannot be stopped with SIGTERM when the test ends.
  absl::Cleanup kill = [&caller] { (*caller)->Signal(SIGKILL); };
  absl::StatusOr<v1::Stats> received =
      AwaitStats(*work_stub, [](const v1::Stats& s) {
        return s.work_received() == 40 && s.computed() >= 1;
      });
  ASSERT_TRUE(received.ok()) << received.status();
  ASSERT_EQ(received->work_received(), 40u);

  (*caller)->Signal(SIGSTOP);
  const absl::Time frozen = absl::Now();
  absl::StatusOr<v1::Stats> after = AwaitStats(
      *work_stub, [](const v1::Stats& s) { return s.in_flight() == 0; },
      absl::Seconds(30));
  ASSERT_TRUE(after.ok()) << after.status();
  std::fprintf(stderr,
               "the frozen caller's units were answered %s after it froze: "
               "%d computed, %d cancelled\n",
               absl::FormatDuration(absl::Now() - frozen).c_str(),
               static_cast<int>(after->computed()),
               static_cast<int>(after->cancelled()));
  EXPECT_EQ(after->in_flight(), 0u);
  EXPECT_GT(after->cancelled(), 0u);
  EXPECT_EQ(after->computed() + after->cancelled(), 40u);
  // The shared session goes on.
  EXPECT_EQ(after->sessions_active(), 1u);
}

TEST(SharedSessionsTest, SigtermEndsEverySharedSessionWithExitThenExitsZero) {
  ServiceProcess work = StartWorkServiceOrFail({"--work=echo", "--threads=2"});
  ServiceProcess main = StartMainServiceOrFail(
      {"--work_address=" + work.address, "--work_sessions=1"});
  auto stub = NewMainStub(main.address);
  v1::RunReply reply;
  ASSERT_TRUE(CallRun(*stub, KeyRange(0, 100), &reply).ok());
  auto work_stub = NewWorkStub(work.address);
  absl::StatusOr<v1::Stats> before = testing::GetStats(*work_stub);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_GE(before->sessions_active(), 1u);

  // The caller's channel is closed first: an idle connection left open keeps
  // gRPC's server shutdown waiting until the grace period ends.
  stub.reset();
  main.process->Signal(SIGTERM);
  absl::StatusOr<int> exit_code = main.process->AwaitExit(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_TRUE(
      main.process->AwaitOutput("sessions to work_service closed: " +
                                    std::to_string(before->sessions_active()) +
                                    " ended with Exited, 0 cancelled",
                                absl::Seconds(1)));
  absl::StatusOr<v1::Stats> after = AwaitStats(
      *work_stub, [](const v1::Stats& s) { return s.sessions_active() == 0; });
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->in_flight(), 0u);
}

TEST(SharedSessionsTest, AReplicaThatDrainsUnderLoadFailsNoCall) {
  // Two replicas; callers keep sending 100-key Runs while one replica gets
  // SIGTERM. It sends Draining: main sends it no more units, collects the
  // ones it sent, ends its sessions with Exit, and the replica exits 0.
  std::vector<std::string> flags = {"--work=sleep:1ms", "--threads=2",
                                    "--grace_period=60s"};
  ServiceProcess a = StartWorkServiceOrFail(flags);
  ServiceProcess b = StartWorkServiceOrFail(flags);
  ServiceProcess main =
      StartMainServiceOrFail({"--work_address=" + a.address + "," + b.address});
  auto stub = NewMainStub(main.address);
  constexpr int kCallers = 4;
  absl::Mutex mu;
  int calls = 0, failed = 0;  // Guarded by mu.
  bool stop = false;          // Guarded by mu.
  auto reached = [&](int n) {
    return [&, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return calls >= n || failed > 0;
    };
  };
  {
    std::list<JoiningThread> callers;  // Not movable.
    for (int c = 0; c < kCallers; ++c) {
      callers.emplace_back([&, c] {
        for (uint64_t r = 0;; ++r) {
          {
            absl::MutexLock lock(&mu);
            if (stop) return;
          }
          const std::vector<uint64_t> keys =
              KeyRange((c * 100'000) + r * 100, 100);
          v1::RunReply reply;
          grpc::Status status =
              CallRun(*stub, RunRequestOf(keys), &reply, absl::Seconds(60));
          absl::MutexLock lock(&mu);
          if (!status.ok()) {
            ADD_FAILURE() << status.error_message();
            ++failed;
            return;
          }
          ExpectAnswersInOrder(keys, reply);
          ++calls;
        }
      });
    }
    int seen;
    {
      absl::MutexLock lock(&mu);
      auto twenty = reached(20);
      mu.Await(absl::Condition(&twenty));
    }
    a.process->Signal(SIGTERM);
    absl::StatusOr<int> exit_code = a.process->AwaitExit(absl::Seconds(60));
    EXPECT_TRUE(exit_code.ok()) << exit_code.status();
    if (exit_code.ok()) {
      EXPECT_EQ(*exit_code, 0);
    }
    // Some more calls with only b left.
    absl::MutexLock lock(&mu);
    seen = calls;
    auto more = reached(seen + 20);
    mu.Await(absl::Condition(&more));
    stop = true;
  }
  absl::MutexLock lock(&mu);
  EXPECT_EQ(failed, 0);
  EXPECT_TRUE(a.process->AwaitOutput("stopped", absl::Seconds(1)));
}

}  // namespace
}  // namespace pieces
