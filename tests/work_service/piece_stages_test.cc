// The article's five stages (work_service --piece=N, work_service/pieces/),
// each shown against the real binary: what each stage guarantees, every time,
// and the defect each of stages 2 and 4 has, seen across many trials.
//
// The work is key_ms (a unit of key K sleeps K mod 10000 ms), so that one
// session mixes long and short units and overlaps are tens of milliseconds
// wide. Each trial uses keys of its own (trial * 10000 + duration), so that a
// key is fresh to the cache. No test sleeps to synchronise or asserts a
// duration: the statistical tests only require that each outcome the article
// describes shows up at least once across their trials.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::GetStats;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunKeys;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::StartTestProcess;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkServiceBinary;
using ::testing::HasSubstr;

// The key of trial `trial` that takes `ms` milliseconds (under 10000).
uint64_t Key(uint64_t trial, uint64_t ms) { return trial * 10000 + ms; }

// How many results came before the first Exited (and whether one came).
struct Ending {
  size_t results_before_exited = 0;
  bool exited = false;
  bool exited_last = false;
};
Ending EndingOf(const SessionOutcome& outcome) {
  Ending ending;
  for (size_t i = 0; i < outcome.messages.size(); ++i) {
    const v1::ResultMsg& message = outcome.messages[i];
    if (message.has_exited()) {
      ending.exited = true;
      ending.exited_last = i + 1 == outcome.messages.size();
      break;
    }
    if (message.has_result()) ++ending.results_before_exited;
  }
  return ending;
}

void ExpectPiece(v1::WorkService::Stub& stub, uint32_t piece) {
  absl::StatusOr<v1::Stats> stats = GetStats(stub);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->piece(), piece);
}

TEST(PieceStagesTest, UnknownPieceStopsTheServiceAtStart) {
  auto process = StartTestProcess(WorkServiceBinary(), {"--piece=6"});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> code = (*process)->AwaitExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 2);
  EXPECT_THAT((*process)->output(), HasSubstr("--piece=6"));
}

TEST(PieceStagesTest, OwnDesignReportsPieceZero) {
  ServiceProcess service = StartWorkServiceOrFail({"--threads=3"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  ExpectPiece(*stub, 0);
}

// Stage 1: one event loop. Deterministic, so a few trials suffice: each
// session's units run one at a time in arrival order, so the results come in
// request order even though the first unit is the slowest, every unit
// computes (no cache, a repeated key included), and Exited comes last.
TEST(PieceStagesTest, Piece1AnswersInRequestOrderAndComputesEveryUnit) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--piece=1", "--work=key_ms", "--threads=4"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  for (uint64_t trial = 1; trial <= 3; ++trial) {
    const std::vector<uint64_t> keys = {Key(trial, 40), Key(trial, 20),
                                        Key(trial, 5), Key(trial, 40)};
    SessionOutcome outcome = RunKeys(*stub, keys);
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    ASSERT_EQ(outcome.messages.size(), keys.size() + 1);
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE(outcome.messages[i].has_result()) << i;
      const v1::Result& result = outcome.messages[i].result();
      EXPECT_EQ(result.id(), i) << "trial " << trial;
      EXPECT_EQ(result.value(), keys[i]);
      EXPECT_EQ(result.performed(), v1::PERFORMED_NEW) << "id " << i;
    }
    ASSERT_TRUE(outcome.messages.back().has_exited());
    EXPECT_EQ(outcome.messages.back().exited().completed(), keys.size());
  }
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->piece(), 1u);
  EXPECT_EQ(stats->threads(), 1u);  // The loop; --threads has no pool here.
  EXPECT_EQ(stats->computed(), 12u);
  EXPECT_EQ(stats->cache_entries(), 0u);
}

// Stage 2: a pool, and Exit answered at once. Each trial sends four units of
// 30 ms to two threads, then Exit: the Exited, with OK, comes before some
// results, which are never sent. Losing none would take the service to stall
// for 60 ms between reading the last Work and reading the Exit, in each of 10
// trials; we require a loss in at least one. The units still run: the stats
// count every unit computed in the end.
TEST(PieceStagesTest, Piece2AnswersExitAtOnceAndLosesResults) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--piece=2", "--work=key_ms", "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  constexpr int kTrials = 10;
  constexpr size_t kUnits = 4;
  size_t lost = 0;
  for (uint64_t trial = 1; trial <= kTrials; ++trial) {
    std::vector<uint64_t> keys;
    for (size_t i = 0; i < kUnits; ++i) keys.push_back(Key(trial * 10 + i, 30));
    SessionOutcome outcome = RunKeys(*stub, keys);
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    const Ending ending = EndingOf(outcome);
    ASSERT_TRUE(ending.exited);
    EXPECT_TRUE(ending.exited_last);
    EXPECT_EQ(outcome.messages.back().exited().completed(),
              ending.results_before_exited);
    lost += kUnits - ending.results_before_exited;
  }
  EXPECT_GT(lost, 0u) << "no result was lost in " << kTrials << " trials";
  absl::StatusOr<v1::Stats> stats = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.computed() == kTrials * kUnits && s.in_flight() == 0;
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->computed(), kTrials * kUnits);
  EXPECT_EQ(stats->in_flight(), 0u);
  EXPECT_EQ(stats->piece(), 2u);
}

// Stage 3: a pool and a drain. Deterministic: every trial gets every result,
// then the Exited, last; and with no cache, a repeated key is computed again.
TEST(PieceStagesTest, Piece3AnswersEveryUnitBeforeExitedAndRecomputesRepeats) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--piece=3", "--work=key_ms", "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  for (uint64_t trial = 1; trial <= 10; ++trial) {
    const std::vector<uint64_t> keys = {Key(trial, 30), Key(trial, 10),
                                        Key(trial, 30), Key(trial, 20)};
    SessionOutcome outcome = RunKeys(*stub, keys);
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    const Ending ending = EndingOf(outcome);
    EXPECT_TRUE(ending.exited_last) << "trial " << trial;
    EXPECT_EQ(ending.results_before_exited, keys.size()) << "trial " << trial;
    EXPECT_EQ(outcome.CountPerformed(v1::PERFORMED_NEW), 4) << trial;
    EXPECT_EQ(outcome.messages.back().exited().completed(), keys.size());
  }
  ExpectPiece(*stub, 3);
}

// The racing workload of stages 4 and 5 (and the own design): on two pool
// threads, unit 0 computes a fresh key K for 40 ms while unit 1, a spacer of
// a random 0-80 ms, holds the other thread; unit 2, K again, starts when the
// spacer ends, so before or after unit 0 has filled the cache, with even
// odds. Returns how many of units 0 and 2 computed K (performed NEW).
int ComputationsOfOneKey(v1::WorkService::Stub& stub, uint64_t trial,
                         std::mt19937& random) {
  const uint64_t key = Key(trial, 40);
  // Keys of their own, apart from every K.
  const uint64_t spacer = Key(
      1000000 + trial, std::uniform_int_distribution<uint64_t>(0, 80)(random));
  SessionOutcome outcome = RunKeys(stub, {key, spacer, key});
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  int computed = 0;
  int answered = 0;
  for (const v1::Result& result : outcome.results()) {
    if (result.key() != key) continue;
    ++answered;
    EXPECT_EQ(result.value(), key);
    if (result.performed() == v1::PERFORMED_NEW) ++computed;
  }
  EXPECT_EQ(answered, 2) << "trial " << trial;
  return computed;
}

// Stage 4: the racy cache. Each trial computes K once or twice, with even
// odds (see above); 24 trials miss one of the two outcomes with probability
// 2 * 2^-24, about 1e-7, and take about 2 s.
TEST(PieceStagesTest, Piece4SometimesComputesAKeyTwiceAndSometimesOnce) {
  ServiceProcess service =
      StartWorkServiceOrFail({"--piece=4", "--work=key_ms", "--threads=2"});
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  std::mt19937 random(std::random_device{}());
  constexpr int kTrials = 24;
  int once = 0;
  int twice = 0;
  for (uint64_t trial = 1; trial <= kTrials; ++trial) {
    const int computed = ComputationsOfOneKey(*stub, trial, random);
    EXPECT_GE(computed, 1) << "trial " << trial;
    EXPECT_LE(computed, 2) << "trial " << trial;
    if (computed == 1) ++once;
    if (computed == 2) ++twice;
  }
  EXPECT_GT(once, 0) << "K never came from the cache in " << kTrials
                     << " trials";
  EXPECT_GT(twice, 0) << "K was never computed twice in " << kTrials
                      << " trials";
  ExpectPiece(*stub, 4);
}

// Stage 5 and the service's own design: the same racing workload, and K is
// computed exactly once in every trial, whichever way the race goes.
class OneComputationPerKeyTest
    : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(OneComputationPerKeyTest, EveryTrialComputesTheKeyOnce) {
  std::vector<std::string> flags = GetParam();
  flags.push_back("--work=key_ms");
  flags.push_back("--threads=2");
  ServiceProcess service = StartWorkServiceOrFail(flags);
  ASSERT_NE(service.process, nullptr);
  auto stub = NewWorkStub(service.address);
  std::mt19937 random(std::random_device{}());
  for (uint64_t trial = 1; trial <= 24; ++trial) {
    EXPECT_EQ(ComputationsOfOneKey(*stub, trial, random), 1)
        << "trial " << trial;
  }
  ExpectPiece(*stub, GetParam().empty() ? 0 : 5);
}

INSTANTIATE_TEST_SUITE_P(
    PieceStagesTest, OneComputationPerKeyTest,
    ::testing::Values(std::vector<std::string>{"--piece=5"},
                      std::vector<std::string>{}),
    [](const auto& info) {
      return info.param.empty() ? "OwnDesign" : "Piece5";
    });

}  // namespace
}  // namespace pieces
