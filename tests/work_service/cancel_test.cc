// WorkMsg.cancel against the real work_service binary: which units a Cancel
// gives up (answered at once with CANCELLED), which it leaves alone, what
// becomes of the computations they had claimed or waited for, and that every
// Work still gets exactly one Result.
//
// Units block on a Gate: a test decides when work ends. "At once" is shown by
// a CANCELLED Result read while the gate is still closed, so no computation
// can have ended; "computing" by the block work's "key K waits" line.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gate.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CancelMessage;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::Gate;
using ::pieces::testing::GetStats;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunSession;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::SessionStream;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;
using ::testing::HasSubstr;

constexpr int kCancelled = static_cast<int>(grpc::StatusCode::CANCELLED);

// The next message of `session`, which must be a Result.
std::optional<v1::Result> ReadResult(SessionStream& session) {
  std::optional<v1::ResultMsg> message = session.Read();
  if (!message.has_value() || !message->has_result()) {
    ADD_FAILURE() << "expected a Result, got "
                  << (message.has_value() ? message->ShortDebugString()
                                          : std::string("the end of the call"));
    return std::nullopt;
  }
  return message->result();
}

// Whether `result` answers unit `id` of `key` with the client's CANCELLED.
::testing::AssertionResult IsCancelled(const v1::Result& result, uint64_t id,
                                       uint64_t key) {
  if (result.id() != id || result.key() != key ||
      result.error().code() != kCancelled ||
      result.error().message().find("cancelled by the client") ==
          std::string::npos ||
      result.performed() != v1::PERFORMED_UNSPECIFIED || result.value() != 0) {
    return ::testing::AssertionFailure()
           << "expected unit " << id << " of key " << key
           << " CANCELLED by the client, got " << result.ShortDebugString();
  }
  return ::testing::AssertionSuccess();
}

// Whether `result` answers unit `id` of `key` with its value, performed so.
::testing::AssertionResult IsValue(const v1::Result& result, uint64_t id,
                                   uint64_t key, v1::Performed performed,
                                   bool waited = false) {
  if (result.id() != id || result.key() != key || result.has_error() ||
      result.value() != key || result.performed() != performed ||
      result.waited() != waited) {
    return ::testing::AssertionFailure()
           << "expected unit " << id << " of key " << key << " "
           << v1::Performed_Name(performed) << (waited ? " waited" : "")
           << ", got " << result.ShortDebugString();
  }
  return ::testing::AssertionSuccess();
}

// Whether the session ended with one Exited counting `completed`, then OK,
// and nothing else.
::testing::AssertionResult EndsWithExited(const SessionOutcome& outcome,
                                          uint64_t completed) {
  if (!outcome.status.ok()) {
    return ::testing::AssertionFailure()
           << "status " << outcome.status.error_code() << ": "
           << outcome.status.error_message();
  }
  if (outcome.messages.size() != 1 || !outcome.messages[0].has_exited() ||
      outcome.messages[0].exited().completed() != completed) {
    std::string seen;
    for (const v1::ResultMsg& m : outcome.messages) {
      absl::StrAppend(&seen, m.ShortDebugString(), "; ");
    }
    return ::testing::AssertionFailure()
           << "expected only Exited{completed: " << completed
           << "}, got: " << seen;
  }
  return ::testing::AssertionSuccess();
}

// The counters a test expects once the service is idle; each received unit
// ends as exactly one of computed, from_cache, failed or cancelled.
struct Counters {
  uint64_t work_received;
  uint64_t computed;
  uint64_t from_cache;
  uint64_t cancelled;
  uint64_t waited = 0;
  uint64_t failed = 0;
};

void ExpectIdleWith(v1::WorkService::Stub& stub, const Counters& expected) {
  absl::StatusOr<v1::Stats> stats = AwaitStats(stub, [](const v1::Stats& s) {
    return s.in_flight() == 0 && s.sessions_active() == 0;
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->work_received(), expected.work_received);
  EXPECT_EQ(stats->computed(), expected.computed);
  EXPECT_EQ(stats->from_cache(), expected.from_cache);
  EXPECT_EQ(stats->cancelled(), expected.cancelled);
  EXPECT_EQ(stats->waited(), expected.waited);
  EXPECT_EQ(stats->failed(), expected.failed);
  EXPECT_EQ(stats->work_received(), stats->computed() + stats->from_cache() +
                                        stats->failed() + stats->cancelled());
}

TEST(CancelTest, ParkedUnitIsAnsweredAtOnceAndTheComputationGoesOn) {
  ServiceProcess service;
  Gate gate;  // After the service: opened before the service is stopped.
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionStream session(*stub);

  // Unit 0 computes key 10 (and blocks); unit 1 parks on it.
  ASSERT_TRUE(session.Write(WorkMessage(0, 10)));
  ASSERT_TRUE(session.Write(WorkMessage(1, 10)));
  ASSERT_TRUE(service.process->AwaitOutput("key 10 waits", absl::Seconds(20)));
  ASSERT_TRUE(session.Write(CancelMessage({1})));
  std::optional<v1::Result> cancelled = ReadResult(session);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_TRUE(IsCancelled(*cancelled, 1, 10));
  absl::StatusOr<v1::Stats> meanwhile = GetStats(*stub);
  ASSERT_TRUE(meanwhile.ok()) << meanwhile.status();
  EXPECT_EQ(meanwhile->cancelled(), 1u);
  EXPECT_EQ(meanwhile->computed(), 0u);  // Unit 0 still blocks.

  // A second Cancel of it finds it answered: ignored.
  ASSERT_TRUE(session.Write(CancelMessage({1})));
  gate.Open();
  std::optional<v1::Result> computed = ReadResult(session);
  ASSERT_TRUE(computed.has_value());
  EXPECT_TRUE(IsValue(*computed, 0, 10, v1::PERFORMED_NEW));
  // The computation filled the cache.
  ASSERT_TRUE(session.Write(WorkMessage(2, 10)));
  std::optional<v1::Result> cached = ReadResult(session);
  ASSERT_TRUE(cached.has_value());
  EXPECT_TRUE(IsValue(*cached, 2, 10, v1::PERFORMED_FROM_CACHE));

  ASSERT_TRUE(session.WritesDone());
  EXPECT_TRUE(EndsWithExited(session.Finish(), 3));
  ExpectIdleWith(*stub, {/*work_received=*/3,
                         /*computed=*/1,
                         /*from_cache=*/1,
                         /*cancelled=*/1});
}

TEST(CancelTest, QueuedUnitIsAnsweredAtOnceAndItsKeyIsNotComputed) {
  // One thread: unit 0 blocks on it, so units 1 and 2 (other keys) wait in
  // the pool's queue, in that order.
  ServiceProcess service;
  Gate gate;
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=1"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionStream session(*stub);

  ASSERT_TRUE(session.Write(WorkMessage(0, 20)));
  ASSERT_TRUE(service.process->AwaitOutput("key 20 waits", absl::Seconds(20)));
  ASSERT_TRUE(session.Write(WorkMessage(1, 21)));
  ASSERT_TRUE(session.Write(WorkMessage(2, 22)));
  ASSERT_TRUE(session.Write(CancelMessage({1})));
  std::optional<v1::Result> cancelled = ReadResult(session);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_TRUE(IsCancelled(*cancelled, 1, 21));

  // Unit 1's pool task runs after unit 0 and before unit 2: once unit 2 is
  // answered, it has given key 21 up.
  gate.Open();
  std::optional<v1::Result> first = ReadResult(session);
  std::optional<v1::Result> second = ReadResult(session);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_TRUE(IsValue(*first, 0, 20, v1::PERFORMED_NEW));
  EXPECT_TRUE(IsValue(*second, 2, 22, v1::PERFORMED_NEW));
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->computed(), 2u);
  EXPECT_EQ(stats->cache_entries(), 2u);  // Keys 20 and 22, not 21.

  // Key 21 was never computed: a later unit computes it, without waiting.
  ASSERT_TRUE(session.Write(WorkMessage(3, 21)));
  std::optional<v1::Result> later = ReadResult(session);
  ASSERT_TRUE(later.has_value());
  EXPECT_TRUE(IsValue(*later, 3, 21, v1::PERFORMED_NEW));

  ASSERT_TRUE(session.WritesDone());
  EXPECT_TRUE(EndsWithExited(session.Finish(), 4));
  ExpectIdleWith(*stub, {/*work_received=*/4,
                         /*computed=*/3,
                         /*from_cache=*/0,
                         /*cancelled=*/1});
}

TEST(CancelTest, QueuedUnitsKeyIsStillComputedForItsWaiters) {
  ServiceProcess service;
  Gate gate;
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=1"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionStream session(*stub);

  // Unit 0 blocks the only thread; unit 1 claims key 31 and waits in the
  // queue; unit 2 parks on unit 1's claim.
  ASSERT_TRUE(session.Write(WorkMessage(0, 30)));
  ASSERT_TRUE(service.process->AwaitOutput("key 30 waits", absl::Seconds(20)));
  ASSERT_TRUE(session.Write(WorkMessage(1, 31)));
  ASSERT_TRUE(session.Write(WorkMessage(2, 31)));
  ASSERT_TRUE(session.Write(CancelMessage({1})));
  std::optional<v1::Result> cancelled = ReadResult(session);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_TRUE(IsCancelled(*cancelled, 1, 31));

  // Unit 2 still gets key 31, computed by unit 1's task for it.
  gate.Open();
  std::optional<v1::Result> first = ReadResult(session);
  std::optional<v1::Result> second = ReadResult(session);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_TRUE(IsValue(*first, 0, 30, v1::PERFORMED_NEW));
  EXPECT_TRUE(IsValue(*second, 2, 31, v1::PERFORMED_FROM_CACHE,
                      /*waited=*/true));
  ASSERT_TRUE(session.Write(WorkMessage(3, 31)));
  std::optional<v1::Result> later = ReadResult(session);
  ASSERT_TRUE(later.has_value());
  EXPECT_TRUE(IsValue(*later, 3, 31, v1::PERFORMED_FROM_CACHE));

  ASSERT_TRUE(session.WritesDone());
  EXPECT_TRUE(EndsWithExited(session.Finish(), 4));
  // No unit is NEW for key 31: the one that computed it was cancelled.
  ExpectIdleWith(*stub, {/*work_received=*/4,
                         /*computed=*/1,
                         /*from_cache=*/2,
                         /*cancelled=*/1,
                         /*waited=*/1});
}

TEST(CancelTest, ComputingUnitCompletesNormally) {
  ServiceProcess service;
  Gate gate;
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=1"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionStream session(*stub);

  ASSERT_TRUE(session.Write(WorkMessage(0, 40)));
  ASSERT_TRUE(service.process->AwaitOutput("key 40 waits", absl::Seconds(20)));
  ASSERT_TRUE(session.Write(CancelMessage({0})));
  // A parked unit cancelled after it: its CANCELLED is the first message,
  // so the Cancel of unit 0, handled before, answered nothing.
  ASSERT_TRUE(session.Write(WorkMessage(1, 40)));
  ASSERT_TRUE(session.Write(CancelMessage({1})));
  std::optional<v1::Result> cancelled = ReadResult(session);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_TRUE(IsCancelled(*cancelled, 1, 40));

  gate.Open();
  std::optional<v1::Result> computed = ReadResult(session);
  ASSERT_TRUE(computed.has_value());
  EXPECT_TRUE(IsValue(*computed, 0, 40, v1::PERFORMED_NEW));

  ASSERT_TRUE(session.WritesDone());
  EXPECT_TRUE(EndsWithExited(session.Finish(), 2));
  ExpectIdleWith(*stub, {/*work_received=*/2,
                         /*computed=*/1,
                         /*from_cache=*/0,
                         /*cancelled=*/1});
  // It filled the cache.
  SessionOutcome after = RunSession(*stub, {WorkMessage(0, 40), ExitMessage()});
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  ASSERT_EQ(after.results().size(), 1u);
  EXPECT_TRUE(IsValue(after.results()[0], 0, 40, v1::PERFORMED_FROM_CACHE));
}

TEST(CancelTest, AnsweredIdsAreIgnored) {
  ServiceProcess service = StartWorkServiceOrFail({"--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionStream session(*stub);

  // Unit 0 is computed; unit 1, a hit, is answered on arrival.
  ASSERT_TRUE(session.Write(WorkMessage(0, 50)));
  std::optional<v1::Result> computed = ReadResult(session);
  ASSERT_TRUE(computed.has_value());
  EXPECT_TRUE(IsValue(*computed, 0, 50, v1::PERFORMED_NEW));
  ASSERT_TRUE(session.Write(WorkMessage(1, 50)));
  ASSERT_TRUE(session.Write(CancelMessage({1, 0, 1})));
  std::optional<v1::Result> hit = ReadResult(session);
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(IsValue(*hit, 1, 50, v1::PERFORMED_FROM_CACHE));
  // After Exit too: the session takes Cancel until it ends.
  ASSERT_TRUE(session.Write(ExitMessage()));
  ASSERT_TRUE(session.Write(CancelMessage({0})));
  ASSERT_TRUE(session.WritesDone());

  // No second Result for either.
  EXPECT_TRUE(EndsWithExited(session.Finish(), 2));
  ExpectIdleWith(*stub, {/*work_received=*/2,
                         /*computed=*/1,
                         /*from_cache=*/1,
                         /*cancelled=*/0});
}

TEST(CancelTest, EmptyCancelOrIdNeverSentEndsTheSession) {
  ServiceProcess service;
  Gate gate;
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  struct Bad {
    std::string name;
    std::vector<v1::WorkMsg> messages;
    std::string message_part;
  };
  const std::vector<Bad> cases = {
      {"empty Cancel",
       {WorkMessage(0, 60), CancelMessage({})},
       "a Cancel must list at least one Work id"},
      {"id never sent",
       {WorkMessage(0, 61), WorkMessage(1, 61), CancelMessage({1, 7})},
       "Cancel lists id=7, which no Work of this session used"},
      {"id never sent, after Exit",
       {WorkMessage(0, 62), ExitMessage(), CancelMessage({3})},
       "Cancel lists id=3"},
  };
  for (const Bad& bad : cases) {
    SCOPED_TRACE(bad.name);
    // No half-close: the service must end the session by itself, while its
    // units still block.
    SessionOutcome outcome = RunSession(*stub, bad.messages);
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << outcome.status.error_message();
    EXPECT_THAT(outcome.status.error_message(), HasSubstr(bad.message_part));
  }
  gate.Open();
  absl::StatusOr<v1::Stats> stats = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.in_flight() == 0 && s.sessions_active() == 0;
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  // Unit 1 of key 61, cancelled before the session ended, counts so; the
  // others ran or were left by their ended sessions.
  EXPECT_EQ(stats->work_received(), stats->computed() + stats->from_cache() +
                                        stats->failed() + stats->cancelled());
}

TEST(CancelTest, EveryUnitGetsOneResultAndTheCountersAddUp) {
  // A batch of units over a few keys, every third one cancelled while the
  // first two computations block.
  ServiceProcess service;
  Gate gate;
  service = StartWorkServiceOrFail({gate.WorkFlag(), "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  SessionStream session(*stub);
  constexpr uint64_t kUnits = 300;
  v1::WorkMsg batch;
  std::vector<uint64_t> to_cancel;
  for (uint64_t id = 0; id < kUnits; ++id) {
    v1::Work* work = batch.mutable_batch()->add_works();
    work->set_id(id);
    work->set_key(id % 25);
    if (id % 3 == 1) to_cancel.push_back(id);
  }
  ASSERT_TRUE(session.Write(batch));
  ASSERT_TRUE(session.Write(CancelMessage(to_cancel)));
  ASSERT_TRUE(session.Write(ExitMessage()));
  // Units 0 and 1 take the two threads; unit 1 is listed and may be
  // computing when the Cancel comes. Every other listed unit is queued or
  // parked, and cannot end before the gate opens: the Cancel answers it.
  const uint64_t at_least = to_cancel.size() - 1;
  ASSERT_TRUE(AwaitStats(*stub, [at_least](const v1::Stats& s) {
                return s.cancelled() >= at_least;
              }).ok());
  gate.Open();
  SessionOutcome outcome = session.Finish();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_FALSE(outcome.messages.empty());
  ASSERT_TRUE(outcome.messages.back().has_exited());
  EXPECT_EQ(outcome.messages.back().exited().completed(), kUnits);

  std::vector<uint64_t> ids;
  uint64_t cancelled = 0;
  for (const v1::Result& result : outcome.results()) {
    ids.push_back(result.id());
    if (result.error().code() == kCancelled) {
      ++cancelled;
      EXPECT_EQ(result.id() % 3, 1u) << result.ShortDebugString();
    } else {
      EXPECT_TRUE(IsValue(result, result.id(), result.id() % 25,
                          result.performed(), result.waited()));
    }
  }
  std::sort(ids.begin(), ids.end());
  std::vector<uint64_t> expected(kUnits);
  for (uint64_t i = 0; i < kUnits; ++i) expected[i] = i;
  EXPECT_EQ(ids, expected);  // Each unit answered exactly once.
  EXPECT_GE(cancelled, at_least);

  absl::StatusOr<v1::Stats> stats = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.in_flight() == 0 && s.sessions_active() == 0;
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->cancelled(), cancelled);
  EXPECT_EQ(stats->work_received(), kUnits);
  EXPECT_EQ(stats->work_received(), stats->computed() + stats->from_cache() +
                                        stats->failed() + stats->cancelled());
  EXPECT_EQ(stats->computed(),
            static_cast<uint64_t>(outcome.CountPerformed(v1::PERFORMED_NEW)));
  EXPECT_EQ(
      stats->from_cache(),
      static_cast<uint64_t>(outcome.CountPerformed(v1::PERFORMED_FROM_CACHE)));
}

}  // namespace
}  // namespace pieces
