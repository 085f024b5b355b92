// The seed's guarantees and the session's error cases, shown against the real
// work_service binary started on a free port.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gate.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::Gate;
using ::pieces::testing::GetStats;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunKeys;
using ::pieces::testing::RunSession;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;
using ::testing::HasSubstr;

// Whether `outcome` has the shape every successful session has: OK, each id
// in `ids` answered exactly once, then one Exited, last, counting them.
// Callers ASSERT it before they look at the results.
::testing::AssertionResult IsCompleteSession(const SessionOutcome& outcome,
                                             const std::vector<uint64_t>& ids) {
  if (!outcome.status.ok()) {
    return ::testing::AssertionFailure()
           << "status " << outcome.status.error_code() << ": "
           << outcome.status.error_message();
  }
  if (outcome.messages.size() != ids.size() + 1) {
    return ::testing::AssertionFailure()
           << outcome.messages.size() << " messages, expected "
           << ids.size() + 1;
  }
  if (!outcome.messages.back().has_exited()) {
    return ::testing::AssertionFailure()
           << "the last message is not Exited: "
           << outcome.messages.back().ShortDebugString();
  }
  if (outcome.messages.back().exited().completed() != ids.size()) {
    return ::testing::AssertionFailure()
           << "Exited counts " << outcome.messages.back().exited().completed()
           << " completed, expected " << ids.size();
  }
  std::vector<uint64_t> answered;
  for (size_t i = 0; i + 1 < outcome.messages.size(); ++i) {
    if (!outcome.messages[i].has_result()) {
      return ::testing::AssertionFailure()
             << "message " << i
             << " is not a Result: " << outcome.messages[i].ShortDebugString();
    }
    answered.push_back(outcome.messages[i].result().id());
  }
  std::vector<uint64_t> expected = ids;
  std::sort(answered.begin(), answered.end());
  std::sort(expected.begin(), expected.end());
  if (answered != expected) {
    return ::testing::AssertionFailure()
           << "answered ids " << ::testing::PrintToString(answered)
           << ", expected " << ::testing::PrintToString(expected);
  }
  return ::testing::AssertionSuccess();
}

std::vector<uint64_t> Iota(uint64_t n) {
  std::vector<uint64_t> ids(n);
  for (uint64_t i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

TEST(WorkServiceTest, RepeatedKeyInOneSessionComputesOnceEveryTime) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--work=sleep:20ms", "--threads=4"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  for (uint64_t key = 1000; key < 1030; ++key) {
    SessionOutcome outcome = RunKeys(*stub, {key, key, key, key});
    ASSERT_TRUE(IsCompleteSession(outcome, Iota(4)));
    EXPECT_EQ(outcome.CountPerformed(v1::PERFORMED_NEW), 1) << "key " << key;
    EXPECT_EQ(outcome.CountPerformed(v1::PERFORMED_FROM_CACHE), 3);
    for (const v1::Result& result : outcome.results()) {
      EXPECT_EQ(result.key(), key);
      EXPECT_EQ(result.value(), key);  // echo semantics after the sleep.
      EXPECT_FALSE(result.has_error());
    }
  }
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->computed(), 30u);
  EXPECT_EQ(stats->from_cache(), 90u);
  EXPECT_EQ(stats->cache_entries(), 30u);
  EXPECT_EQ(stats->threads(), 4u);
}

TEST(WorkServiceTest, ExitedComesLastAfterEveryResult) {
  // Exit arrives while all the work is still queued or running.
  ServiceProcess service =
      StartWorkServiceOrFail({"--work=sleep:50ms", "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  std::vector<uint64_t> keys = {11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  SessionOutcome outcome = RunKeys(*stub, keys);
  ASSERT_TRUE(IsCompleteSession(outcome, Iota(keys.size())));
  EXPECT_EQ(outcome.CountPerformed(v1::PERFORMED_NEW), 10);
}

TEST(WorkServiceTest, HalfCloseMeansExit) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--work=sleep:30ms", "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionOutcome outcome = RunSession(
      *stub, {WorkMessage(7, 1), WorkMessage(8, 2), WorkMessage(9, 1)},
      /*half_close=*/true);
  ASSERT_TRUE(IsCompleteSession(outcome, {7, 8, 9}));
}

TEST(WorkServiceTest, ExitWithNoWorkGetsExitedAtOnce) {
  ServiceProcess service = StartWorkServiceOrFail({});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionOutcome outcome = RunSession(*stub, {ExitMessage()});
  ASSERT_TRUE(IsCompleteSession(outcome, {}));
}

// Write coalescing (session.h): a write that more answers wait behind may be
// held back by gRPC; the last one queued never is. A burst of cache hits
// queues answers (so held-back writes happen), then a client that waits for
// each Result before it sends the next Work must get it: a Result held back
// would leave the client waiting until the call's deadline.
TEST(WorkServiceTest, AClientThatWaitsForEachResultGetsItAfterABurst) {
  ServiceProcess service = StartWorkServiceOrFail({"--work=echo"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  constexpr uint64_t kBurst = 1000;
  constexpr uint64_t kOneByOne = 200;
  testing::SessionStream session(*stub, absl::Seconds(30));
  for (uint64_t id = 0; id < kBurst; ++id) {
    ASSERT_TRUE(session.Write(WorkMessage(id, id % 50)));
  }
  absl::flat_hash_set<uint64_t> answered;
  for (uint64_t i = 0; i < kBurst; ++i) {
    std::optional<v1::ResultMsg> message = session.Read();
    ASSERT_TRUE(message.has_value()) << "after " << i << " results";
    ASSERT_TRUE(message->has_result()) << message->ShortDebugString();
    EXPECT_TRUE(answered.insert(message->result().id()).second);
  }
  for (uint64_t i = 0; i < kOneByOne; ++i) {
    const uint64_t id = kBurst + i;
    ASSERT_TRUE(session.Write(WorkMessage(id, i % 50)));
    std::optional<v1::ResultMsg> message = session.Read();
    ASSERT_TRUE(message.has_value())
        << "no Result for Work id=" << id << " before the deadline";
    ASSERT_TRUE(message->has_result()) << message->ShortDebugString();
    EXPECT_EQ(message->result().id(), id);
    EXPECT_EQ(message->result().value(), i % 50);
  }
  ASSERT_TRUE(session.Write(ExitMessage()));
  SessionOutcome rest = session.Finish();
  ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
  ASSERT_EQ(rest.messages.size(), 1u);
  ASSERT_TRUE(rest.messages[0].has_exited());
  EXPECT_EQ(rest.messages[0].exited().completed(), kBurst + kOneByOne);
}

TEST(WorkServiceTest, ConcurrentSessionsComputeEachKeyOnce) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--work=sleep:5ms", "--threads=4"});
  ASSERT_NE(service.process, nullptr);
  constexpr int kSessions = 8;
  constexpr uint64_t kKeys = 50;
  std::vector<SessionOutcome> outcomes(kSessions);
  std::vector<std::thread> clients;
  for (int s = 0; s < kSessions; ++s) {
    clients.emplace_back([&, s] {
      // Each session asks for every key, starting at a different one.
      std::vector<uint64_t> keys;
      for (uint64_t i = 0; i < kKeys; ++i) keys.push_back((i + s * 7) % kKeys);
      auto stub = NewWorkStub(service.address);
      outcomes[s] = RunKeys(*stub, keys);
    });
  }
  for (std::thread& client : clients) client.join();

  absl::flat_hash_map<uint64_t, int> new_per_key;
  for (const SessionOutcome& outcome : outcomes) {
    ASSERT_TRUE(IsCompleteSession(outcome, Iota(kKeys)));
    for (const v1::Result& result : outcome.results()) {
      if (result.performed() == v1::PERFORMED_NEW) ++new_per_key[result.key()];
      EXPECT_EQ(result.value(), result.key());
    }
  }
  EXPECT_EQ(new_per_key.size(), kKeys);
  for (const auto& [key, count] : new_per_key) {
    EXPECT_EQ(count, 1) << "key " << key << " was computed " << count
                        << " times";
  }
  auto stub = NewWorkStub(service.address);
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->computed(), kKeys);
  EXPECT_EQ(stats->from_cache(), kKeys * (kSessions - 1));
  EXPECT_EQ(stats->work_received(), kKeys * kSessions);
  EXPECT_EQ(stats->in_flight(), 0u);
}

TEST(WorkServiceTest, FailureReachesWaitersAndIsNotCached) {
  // Odd keys fail after 3 s; the three units for key 1 run at once. The two
  // that wait must arrive while the first runs: 3 s is ten times what an
  // unloaded build needs (the work has no gate, as it must fail).
  ServiceProcess service =
      StartWorkServiceOrFail({"--work=fail_odd:3s", "--threads=4"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionOutcome outcome = RunKeys(*stub, {1, 1, 1, 2});
  ASSERT_TRUE(IsCompleteSession(outcome, Iota(4)));
  int waited = 0;
  std::string message;
  for (const v1::Result& result : outcome.results()) {
    if (result.key() == 2) {
      EXPECT_FALSE(result.has_error());
      EXPECT_EQ(result.performed(), v1::PERFORMED_NEW);
      continue;
    }
    ASSERT_TRUE(result.has_error()) << result.ShortDebugString();
    EXPECT_EQ(result.error().code(),
              static_cast<int>(grpc::StatusCode::INTERNAL));
    EXPECT_THAT(result.error().message(), HasSubstr("key 1"));
    EXPECT_EQ(result.performed(), v1::PERFORMED_UNSPECIFIED);
    if (message.empty()) message = result.error().message();
    EXPECT_EQ(result.error().message(), message);  // The same error for all.
    waited += result.waited() ? 1 : 0;
  }
  EXPECT_EQ(waited, 2);  // One computed and failed; two waited for it.

  // Not cached: the next request computes again (it does not wait) and fails.
  SessionOutcome retry = RunKeys(*stub, {1});
  ASSERT_TRUE(IsCompleteSession(retry, {0}));
  ASSERT_TRUE(retry.results()[0].has_error());
  EXPECT_FALSE(retry.results()[0].waited());

  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->failed(), 4u);
  EXPECT_EQ(stats->computed(), 1u);
  EXPECT_EQ(stats->cache_entries(), 1u);
  EXPECT_EQ(stats->in_flight(), 0u);
}

TEST(WorkServiceTest, BatchedSessionGetsItsResultsInBatches) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--work=sleep:20ms", "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  v1::WorkMsg batch;
  for (uint64_t id = 0; id < 200; ++id) {
    v1::Work* work = batch.mutable_batch()->add_works();
    work->set_id(id);
    work->set_key(id % 10);  // Ten keys, each asked for twenty times.
  }
  SessionOutcome outcome = RunSession(*stub, {batch, ExitMessage()});
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_GE(outcome.messages.size(), 2u);
  // Every message but the last is a batch: results that are ready together
  // travel together.
  for (size_t i = 0; i + 1 < outcome.messages.size(); ++i) {
    ASSERT_TRUE(outcome.messages[i].has_batch()) << "message " << i;
    EXPECT_GT(outcome.messages[i].batch().results_size(), 0);
  }
  ASSERT_TRUE(outcome.messages.back().has_exited());
  EXPECT_EQ(outcome.messages.back().exited().completed(), 200u);
  // Far fewer messages than results.
  EXPECT_LT(outcome.messages.size(), 100u);
  std::vector<uint64_t> ids;
  for (const v1::Result& result : outcome.results()) {
    ids.push_back(result.id());
    EXPECT_EQ(result.value(), result.key());
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, Iota(200));
  EXPECT_EQ(outcome.CountPerformed(v1::PERFORMED_NEW), 10);
}

struct BadSession {
  std::string name;
  std::vector<v1::WorkMsg> messages;
  grpc::StatusCode code;
  std::string message_part;
};

TEST(WorkServiceTest, BadInputEndsTheSessionWithAClearStatus) {
  // Each case's work blocks until the gate opens, after every case: a
  // session is open (and so reading) until its Exited, so the bad message
  // arrives while the session is open, whatever the timing.
  ServiceProcess service;
  Gate gate;  // After the service: opened before the service is stopped.
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  const std::vector<BadSession> cases = {
      {"duplicate id",
       {WorkMessage(1, 10), WorkMessage(1, 11), ExitMessage()},
       grpc::StatusCode::INVALID_ARGUMENT,
       "id=1 was already used"},
      {"work after exit",
       {WorkMessage(1, 20), ExitMessage(), WorkMessage(2, 21)},
       grpc::StatusCode::FAILED_PRECONDITION,
       "after Exit"},
      {"empty message",
       {v1::WorkMsg()},
       grpc::StatusCode::INVALID_ARGUMENT,
       "set none"},
      {"exit twice",
       {WorkMessage(1, 40), ExitMessage(), ExitMessage()},
       grpc::StatusCode::FAILED_PRECONDITION,
       "second Exit"},
      {"empty batch",
       {[] {
         v1::WorkMsg message;
         message.mutable_batch();
         return message;
       }()},
       grpc::StatusCode::INVALID_ARGUMENT,
       "at least one Work"},
      {"duplicate id inside a batch",
       {[] {
         v1::WorkMsg message;
         for (int i = 0; i < 2; ++i) {
           v1::Work* work = message.mutable_batch()->add_works();
           work->set_id(3);
           work->set_key(50 + i);
         }
         return message;
       }()},
       grpc::StatusCode::INVALID_ARGUMENT,
       "id=3 was already used"},
  };
  for (const BadSession& bad : cases) {
    SCOPED_TRACE(bad.name);
    auto stub = NewWorkStub(service.address);
    // The session stays open (no half-close): the service must notice by
    // itself and end it.
    SessionOutcome outcome = RunSession(*stub, bad.messages);
    EXPECT_EQ(outcome.status.error_code(), bad.code)
        << outcome.status.error_message();
    EXPECT_THAT(outcome.status.error_message(), HasSubstr(bad.message_part));
  }
  // The ended sessions' work finishes, and the service still answers a
  // normal session.
  gate.Open();
  auto stub = NewWorkStub(service.address);
  ASSERT_TRUE(IsCompleteSession(RunKeys(*stub, {5, 6}), Iota(2)));
  absl::StatusOr<v1::Stats> stats = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.in_flight() == 0 && s.sessions_active() == 0;
  });
  EXPECT_TRUE(stats.ok()) << stats.status();
}

TEST(WorkServiceTest,
     CancelledSessionIsCleanedUpAndItsStartedWorkFillsTheCache) {
  // Units block until the gate opens: A's cancel lands while its first two
  // units run, however slow the machine.
  ServiceProcess service;
  Gate gate;  // After the service: opened before the service is stopped.
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);

  // Session A: keys 100 and 101 start at once on the two threads; 102 and
  // 103 wait in the queue.
  grpc::ClientContext cancelled_context;
  auto cancelled = stub->Process(&cancelled_context);
  for (uint64_t i = 0; i < 4; ++i)
    ASSERT_TRUE(cancelled->Write(WorkMessage(i, 100 + i)));
  // A write returns once it is sent, not once the service has queued it:
  // wait, so that B's unit cannot overtake 101 in the pool's queue.
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.work_received() == 4;
              }).ok());

  // Session B, queued behind them, must be untouched by A's end.
  SessionOutcome other;
  std::thread other_client([&] {
    auto other_stub = NewWorkStub(service.address);
    other = RunKeys(*other_stub, {200});
  });
  // EXPECT, not ASSERT, from here to the join: other_client must be joined.
  EXPECT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.work_received() == 5;
              }).ok());
  cancelled_context.TryCancel();
  v1::ResultMsg ignored;
  while (cancelled->Read(&ignored)) {
  }
  EXPECT_EQ(cancelled->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The service has ended A once only B is left; then A's running units may
  // finish, and 102 and 103 start after A's end.
  EXPECT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.sessions_active() == 1;
              }).ok());
  gate.Open();
  other_client.join();
  ASSERT_TRUE(IsCompleteSession(other, {0}));

  absl::StatusOr<v1::Stats> stats = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.in_flight() == 0 && s.sessions_active() == 0;
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->cancelled(), 2u);  // 102 and 103 never started.

  // The work that had started completed and filled the cache.
  SessionOutcome after = RunKeys(*stub, {100, 101});
  ASSERT_TRUE(IsCompleteSession(after, Iota(2)));
  EXPECT_EQ(after.CountPerformed(v1::PERFORMED_FROM_CACHE), 2);
}

TEST(WorkServiceTest, SigtermDrainsSessionsInProgressThenExitsZero) {
  // The session's units block until the gate opens, after the SIGTERM.
  ServiceProcess service;
  Gate gate;  // After the service: opened before the service is stopped.
  service = StartWorkServiceOrFail(
      {gate.WorkFlag(), "--threads=2", "--grace_period=20s"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);

  grpc::ClientContext context;
  auto session = stub->Process(&context);
  ASSERT_TRUE(session->Write(WorkMessage(1, 1)));
  ASSERT_TRUE(session->Write(WorkMessage(2, 2)));
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.work_received() == 2;
              }).ok());

  service.process->Signal(SIGTERM);
  ASSERT_TRUE(service.process->AwaitOutput("got SIGTERM", absl::Seconds(10)));
  // New calls are refused once the server stops listening, right after the
  // log line: ask on new connections until one is refused.
  bool refused = false;
  for (absl::Time end = absl::Now() + absl::Seconds(10);
       !refused && absl::Now() < end;) {
    absl::StatusOr<v1::Stats> stats = GetStats(*NewWorkStub(service.address));
    refused = stats.status().code() == absl::StatusCode::kUnavailable;
    if (!refused) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(refused);
  grpc::Status fresh = RunKeys(*NewWorkStub(service.address), {3}).status;
  EXPECT_EQ(fresh.error_code(), grpc::StatusCode::UNAVAILABLE)
      << fresh.error_message();

  // The session in progress, its units still running, is told first that
  // the service stops (Draining), then gets every result and its Exited.
  gate.Open();
  ASSERT_TRUE(session->Write(ExitMessage()));
  SessionOutcome outcome;
  v1::ResultMsg message;
  while (session->Read(&message)) outcome.messages.push_back(message);
  outcome.status = session->Finish();
  ASSERT_FALSE(outcome.messages.empty());
  EXPECT_TRUE(outcome.messages.front().has_draining())
      << outcome.messages.front().ShortDebugString();
  outcome.messages.erase(outcome.messages.begin());
  ASSERT_TRUE(IsCompleteSession(outcome, {1, 2}));

  absl::StatusOr<int> exit_code = service.process->AwaitExit(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace pieces
