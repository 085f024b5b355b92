// main_service against the real binaries: a work_service and a main_service,
// each started on a free port.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

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
#include "work_service/work_function.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitClusterStats;
using ::pieces::testing::AwaitStats;
using ::pieces::testing::CallRun;
using ::pieces::testing::Gate;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::Pair;
using ::pieces::testing::RunRequestOf;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartPair;
using ::pieces::testing::StartWorkServiceOrFail;
using ::testing::HasSubstr;

TEST(MainServiceTest, RunAnswersInRequestOrderWithRepeatsFromCache) {
  Pair pair = StartPair({"--work=sleep:20ms", "--threads=4"});
  const std::vector<uint64_t> keys = {5, 3, 5, 9, 3, 1};
  v1::RunReply reply;
  grpc::Status status = CallRun(*pair.stub, RunRequestOf(keys), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(reply.results_size(), 6);
  EXPECT_EQ(reply.completed(), 6u);
  int computed = 0;
  for (int i = 0; i < reply.results_size(); ++i) {
    const v1::Result& result = reply.results(i);
    EXPECT_EQ(result.id(), static_cast<uint64_t>(i));
    EXPECT_EQ(result.key(), keys[i]);
    EXPECT_EQ(result.value(), keys[i]);
    computed += result.performed() == v1::PERFORMED_NEW ? 1 : 0;
  }
  EXPECT_EQ(computed, 4);  // 5, 3, 9 and 1 once each.
  EXPECT_EQ(reply.results(2).performed(), v1::PERFORMED_FROM_CACHE);
  EXPECT_EQ(reply.results(4).performed(), v1::PERFORMED_FROM_CACHE);
}

TEST(MainServiceTest, RunKeepsRequestOrderForManyKeys) {
  Pair pair = StartPair({"--work=cpu:2000", "--threads=2"});
  std::mt19937_64 random(42);
  std::vector<uint64_t> keys(3000);
  for (uint64_t& key : keys) key = random() % 500;
  v1::RunReply reply;
  grpc::Status status = CallRun(*pair.stub, RunRequestOf(keys), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(reply.results_size(), 3000);
  for (int i = 0; i < reply.results_size(); ++i) {
    ASSERT_EQ(reply.results(i).id(), static_cast<uint64_t>(i));
    ASSERT_EQ(reply.results(i).key(), keys[i]);
    ASSERT_EQ(reply.results(i).value(), MixRounds(keys[i], 2000));
  }
}

TEST(MainServiceTest, RunStreamForwardsEveryResultThenExitedLast) {
  Pair pair = StartPair({"--work=sleep:20ms", "--threads=4"});
  grpc::ClientContext context;
  auto reader = pair.stub->RunStream(&context, RunRequestOf({8, 8, 6, 7}));
  std::vector<v1::ResultMsg> messages;
  v1::ResultMsg message;
  while (reader->Read(&message)) messages.push_back(message);
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(messages.size(), 5u);
  std::vector<bool> seen(4, false);
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(messages[i].has_result());
    ASSERT_LT(messages[i].result().id(), 4u);
    EXPECT_FALSE(seen[messages[i].result().id()]);
    seen[messages[i].result().id()] = true;
  }
  ASSERT_TRUE(messages.back().has_exited());
  EXPECT_EQ(messages.back().exited().completed(), 4u);
}

TEST(MainServiceTest, UnitErrorsComeBackInTheirResults) {
  Pair pair = StartPair({"--work=fail_odd:0s", "--threads=2"});
  v1::RunReply reply;
  grpc::Status status = CallRun(*pair.stub, RunRequestOf({2, 3}), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(reply.results_size(), 2);
  EXPECT_FALSE(reply.results(0).has_error());
  ASSERT_TRUE(reply.results(1).has_error());
  EXPECT_EQ(reply.results(1).error().code(),
            static_cast<int>(grpc::StatusCode::INTERNAL));
}

TEST(MainServiceTest, BadRequestsAreInvalidArgument) {
  Pair pair = StartPair({}, {"--max_keys=10"});
  v1::RunReply reply;
  grpc::Status empty = CallRun(*pair.stub, v1::RunRequest(), &reply);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty.error_message(), HasSubstr("empty"));

  std::vector<uint64_t> eleven(11, 1);
  grpc::Status too_many = CallRun(*pair.stub, RunRequestOf(eleven), &reply);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_many.error_message(), HasSubstr("at most 10"));

  grpc::ClientContext context;
  auto reader = pair.stub->RunStream(&context, v1::RunRequest());
  v1::ResultMsg message;
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Exactly --max_keys is fine.
  std::vector<uint64_t> ten(10, 1);
  EXPECT_TRUE(CallRun(*pair.stub, RunRequestOf(ten), &reply).ok());
}

TEST(MainServiceTest, UnreachableWorkServiceIsUnavailableThenRecovers) {
  // A port that nothing listens on once this work_service is gone.
  ServiceProcess work = StartWorkServiceOrFail({});
  const int port = work.port;
  work.process.reset();  // Stopped (and checked) by the harness.

  ServiceProcess main = StartMainServiceOrFail(
      {"--work_address=localhost:" + std::to_string(port)});
  auto stub = NewMainStub(main.address);
  v1::RunReply reply;
  const absl::Time start = absl::Now();
  grpc::Status status =
      CallRun(*stub, RunRequestOf({1}), &reply, absl::Seconds(120));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(),
              HasSubstr("work_service at localhost:" + std::to_string(port)));
  // Does not hang: at once in practice (a refused connection), a bound 10x
  // what a loaded sanitizer build needs, far short of the call's deadline.
  EXPECT_LT(absl::Now() - start, absl::Seconds(50));

  // work_service comes back on the same port; main is not restarted.
  ServiceProcess back =
      StartWorkServiceOrFail({"--port=" + std::to_string(port)});
  grpc::Status recovered;
  for (absl::Time end = absl::Now() + absl::Seconds(15); absl::Now() < end;) {
    recovered = CallRun(*stub, RunRequestOf({1, 2}), &reply);
    if (recovered.ok()) break;
    EXPECT_EQ(recovered.error_code(), grpc::StatusCode::UNAVAILABLE);
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  EXPECT_EQ(reply.results_size(), 2);
}

TEST(MainServiceTest, DeadlineIsHonouredAndPropagated) {
  // One pool thread and units that run until the gate opens: the first unit
  // holds the thread and the other two wait behind it in the pool's queue
  // (a unit gives up after 30 s). When the caller's deadline passes, main
  // answers it and cancels its units on the shared session: the two queued
  // ones are answered CANCELLED at once and never run; the one computing
  // completes and fills the cache.
  Pair pair;
  Gate gate;
  pair = StartPair({gate.WorkFlag(), "--threads=1"});
  // Both connections are made first (GetClusterStats reaches work_service
  // over main's channel to it), so that the deadline below only has to cover
  // three units on open connections, under a sanitizer with a neighbour too.
  ASSERT_TRUE(AwaitClusterStats(*pair.stub, [](const v1::ClusterStats& s) {
                return s.replicas_answered() == 1;
              }).ok());
  v1::RunReply reply;
  grpc::Status status =
      CallRun(*pair.stub, RunRequestOf({1, 2, 3}), &reply, absl::Seconds(3));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();

  auto work = NewWorkStub(pair.work.address);
  // A cancelled unit is counted when the Cancel arrives, and leaves in_flight
  // once its CANCELLED answer is written: wait for both.
  absl::StatusOr<v1::Stats> cancelled = AwaitStats(
      *work,
      [](const v1::Stats& s) {
        return s.cancelled() == 2 && s.in_flight() == 1;
      },
      absl::Seconds(20));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->work_received(), 3u);
  EXPECT_EQ(cancelled->computed() + cancelled->failed(), 0u)
      << "a unit ended before the gate opened";
  EXPECT_EQ(cancelled->in_flight(), 1u);
  // The session is main's shared one: it stays open.
  EXPECT_EQ(cancelled->sessions_active(), 1u);

  // Once the first unit is let go, it completes; the two others never ran.
  gate.Open();
  absl::StatusOr<v1::Stats> after = AwaitStats(
      *work, [](const v1::Stats& s) { return s.in_flight() == 0; },
      absl::Seconds(20));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->computed(), 1u);
  EXPECT_EQ(after->cancelled(), 2u);
  EXPECT_EQ(after->cache_entries(), 1u);
}

TEST(MainServiceTest, ClientCancellationReachesTheWorkSession) {
  // Two pool threads held by the gate: units 1 and 2 compute, unit 3 waits in
  // the pool's queue. Cancelling the call cancels the units on work_service:
  // unit 3 is answered CANCELLED at once, the two computing complete.
  Pair pair;
  Gate gate;
  pair = StartPair({gate.WorkFlag(), "--threads=2"});
  grpc::ClientContext context;
  auto reader = pair.stub->RunStream(&context, RunRequestOf({1, 2, 3}));
  auto work = NewWorkStub(pair.work.address);
  ASSERT_TRUE(AwaitStats(*work, [](const v1::Stats& s) {
                return s.work_received() == 3;
              }).ok());
  context.TryCancel();
  v1::ResultMsg message;
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  absl::StatusOr<v1::Stats> cancelled = AwaitStats(
      *work, [](const v1::Stats& s) { return s.cancelled() == 1; },
      absl::Seconds(20));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->computed(), 0u) << "the gate is still closed";

  gate.Open();
  absl::StatusOr<v1::Stats> after = AwaitStats(
      *work, [](const v1::Stats& s) { return s.in_flight() == 0; },
      absl::Seconds(20));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->computed(), 2u);
  EXPECT_EQ(after->cancelled(), 1u);
  EXPECT_EQ(after->sessions_active(), 1u);
}

TEST(MainServiceTest, SigtermLetsRunsInProgressFinishThenExitsZero) {
  Pair pair;
  Gate gate;
  pair = StartPair({gate.WorkFlag(), "--threads=2"}, {"--grace_period=60s"});
  v1::RunReply reply;
  grpc::Status status;
  JoiningThread caller([&] {
    status =
        CallRun(*pair.stub, RunRequestOf({4, 5}), &reply, absl::Seconds(60));
  });
  auto work = NewWorkStub(pair.work.address);
  ASSERT_TRUE(AwaitStats(*work, [](const v1::Stats& s) {
                return s.work_received() == 2;
              }).ok());
  pair.main.process->Signal(SIGTERM);
  ASSERT_TRUE(pair.main.process->AwaitOutput("got SIGTERM", absl::Seconds(20)));

  // The Run is still in progress (its units wait for the gate), and a new
  // call is refused. main stops taking calls right after that line; until it
  // does, a Run without keys is answered INVALID_ARGUMENT without reaching
  // work_service. Each try has a connection of its own: a call on a
  // connection made before the shutdown can race gRPC's GOAWAY and be
  // cancelled (CANCELLED) instead.
  grpc::Status refused;
  for (const absl::Time end = absl::Now() + absl::Seconds(20);;) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto probe = v1::MainService::NewStub(grpc::CreateCustomChannel(
        pair.main.address, grpc::InsecureChannelCredentials(), args));
    v1::RunReply ignored;
    refused = CallRun(*probe, v1::RunRequest(), &ignored, absl::Seconds(10));
    if ((refused.error_code() != grpc::StatusCode::INVALID_ARGUMENT &&
         refused.error_code() != grpc::StatusCode::CANCELLED) ||
        absl::Now() > end) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.error_message();

  gate.Open();
  caller.Join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.results_size(), 2);
  absl::StatusOr<int> exit_code =
      pair.main.process->AwaitExit(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace pieces
