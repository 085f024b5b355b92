// The client's outputs as text: progress line, summary, JSON and text
// result lines, the stats table with and without rates, the flag check.
#include "client/format.h"

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "client/flag_check.h"
#include "client/progress.h"
#include "client/run_summary.h"
#include "client/stats_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int32_t, test_number, 0, "for FlagCheckTest");
ABSL_FLAG(bool, test_switch, false, "for FlagCheckTest");

namespace pieces::client {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

v1::Result Ok(uint64_t id, uint64_t key, v1::Performed performed,
              bool waited = false) {
  v1::Result result;
  result.set_id(id);
  result.set_key(key);
  result.set_value(key);
  result.set_performed(performed);
  result.set_waited(waited);
  return result;
}

v1::Result Failed(uint64_t id, uint64_t key, const std::string& message) {
  v1::Result result;
  result.set_id(id);
  result.set_key(key);
  result.mutable_error()->set_code(13);
  result.mutable_error()->set_message(message);
  return result;
}

TEST(ProgressTest, LineShowsDoneOfTotalRateAndEta) {
  EXPECT_EQ(FormatProgressLine(2500, 10000, absl::Seconds(1)),
            " 2500/10000   25%  2500/s  ETA 3.00s");
  EXPECT_EQ(FormatProgressLine(10000, 10000, absl::Seconds(4)),
            "10000/10000  100%  2500/s  ETA 0.00s");
}

TEST(ProgressTest, BeforeTheFirstResultRateAndEtaAreUnknown) {
  EXPECT_EQ(FormatProgressLine(0, 100, absl::Seconds(2)),
            "  0/100    0%  -/s  ETA -");
}

TEST(SummaryTest, CountsEachKindAndShowsTheFirstErrors) {
  RunTally tally;
  tally.Add(Ok(0, 1, v1::PERFORMED_NEW));
  tally.Add(Ok(1, 1, v1::PERFORMED_FROM_CACHE, /*waited=*/true));
  tally.Add(Ok(2, 2, v1::PERFORMED_FROM_CACHE));
  for (uint64_t id = 3; id < 10; ++id) {
    tally.Add(Failed(id, id, absl::StrCat("key ", id, " failed")));
  }
  const std::string summary = FormatRunSummary(tally, 10, absl::Seconds(2));
  EXPECT_THAT(summary, HasSubstr("10 results in 2.00s (5.00/s): 1 new, 2 "
                                 "cached, 1 waited, 7 failed\n"));
  EXPECT_THAT(summary, HasSubstr("first 5 of 7 errors:\n"));
  EXPECT_THAT(summary, HasSubstr("  id 3  key 3  INTERNAL: key 3 failed\n"));
  EXPECT_THAT(summary, HasSubstr("  id 7  key 7  INTERNAL: key 7 failed\n"));
  EXPECT_THAT(summary, Not(HasSubstr("key 8 failed")));
}

TEST(SummaryTest, ACallThatEndedEarlySaysHowManyResultsCame) {
  RunTally tally;
  tally.Add(Ok(0, 1, v1::PERFORMED_NEW));
  EXPECT_EQ(FormatRunSummary(tally, 3, absl::Milliseconds(500)),
            "1 of 3 results in 0.50s (2.00/s): 1 new, 0 cached, 0 waited, 0 "
            "failed\n");
}

TEST(ResultLineTest, JsonHasEveryFieldAndEscapesTheMessage) {
  EXPECT_EQ(ResultJson(Ok(3, 7, v1::PERFORMED_NEW)),
            R"({"id":3,"key":7,"value":7,"performed":"new","waited":false,)"
            R"("error":null})");
  EXPECT_EQ(
      ResultJson(Ok(4, 18446744073709551615u, v1::PERFORMED_FROM_CACHE, true)),
      R"({"id":4,"key":18446744073709551615,)"
      R"("value":18446744073709551615,"performed":"from_cache",)"
      R"("waited":true,"error":null})");
  EXPECT_EQ(ResultJson(Failed(5, 9, "a \"quoted\"\\ line\nand\x01")),
            R"({"id":5,"key":9,"value":0,"performed":null,"waited":false,)"
            R"("error":{"code":"INTERNAL",)"
            R"("message":"a \"quoted\"\\ line\nand\u0001"}})");
}

TEST(ResultLineTest, TextNamesHowTheValueCame) {
  EXPECT_EQ(ResultText(Ok(0, 7, v1::PERFORMED_NEW)),
            "id 0  key 7  value 7  new");
  EXPECT_EQ(ResultText(Ok(1, 7, v1::PERFORMED_FROM_CACHE, true)),
            "id 1  key 7  value 7  from_cache waited");
  EXPECT_EQ(ResultText(Failed(2, 9, "boom")),
            "id 2  key 9  error INTERNAL: boom");
}

TEST(FormatTest, StatusCodeNames) {
  EXPECT_EQ(StatusCodeName(0), "OK");
  EXPECT_EQ(StatusCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(99), "CODE_99");
}

TEST(FormatTest, Rates) {
  EXPECT_EQ(PerSecond(1234.5), "1234/s");
  EXPECT_EQ(PerSecond(12.54), "12.5/s");
  EXPECT_EQ(PerSecond(0.25), "0.25/s");
  EXPECT_EQ(PerSecond(0), "0/s");
}

TEST(FormatTest, ShortDurations) {
  EXPECT_EQ(ShortDuration(absl::Milliseconds(420)), "0.42s");
  EXPECT_EQ(ShortDuration(absl::Seconds(12.34)), "12.3s");
  EXPECT_EQ(ShortDuration(absl::Seconds(245)), "4m05s");
  EXPECT_EQ(ShortDuration(absl::Hours(2) + absl::Minutes(3)), "2h03m");
}

v1::ClusterStats TwoReplicas(uint64_t computed, uint64_t from_cache) {
  v1::ClusterStats stats;
  v1::ReplicaStats* up = stats.add_replicas();
  up->set_address("10.0.0.1:50052");
  up->set_routable(true);
  up->mutable_stats()->set_sessions_active(2);
  up->mutable_stats()->set_computed(computed);
  up->mutable_stats()->set_from_cache(from_cache);
  up->mutable_stats()->set_waited(3);
  up->mutable_stats()->set_failed(1);
  up->mutable_stats()->set_cache_entries(computed);
  v1::ReplicaStats* down = stats.add_replicas();
  down->set_address("10.0.0.2:50052");
  down->mutable_error()->set_code(14);
  down->mutable_error()->set_message("connection refused");
  *stats.mutable_total() = up->stats();
  stats.set_replicas_answered(1);
  stats.set_units_resent(4);
  return stats;
}

TEST(StatsTableTest, OneRowPerReplicaThenTotalsHitRatioAndResent) {
  EXPECT_EQ(FormatStatsTable(TwoReplicas(1000, 3000)),
            "address         routable  sessions  computed  from_cache  "
            "waited  failed  cache_entries  error\n"
            "10.0.0.1:50052  yes              2      1000        3000       "
            "3       1           1000\n"
            "10.0.0.2:50052  no               -         -           -       "
            "-       -              -  UNAVAILABLE: connection refused\n"
            "total                            2      1000        3000       "
            "3       1           1000\n"
            "replicas answered: 1 of 2\n"
            "hit ratio: 75.0% (from_cache / (computed + from_cache))\n"
            "units resent: 4\n");
}

TEST(StatsTableTest, WithNoUnitsTheHitRatioIsUnknown) {
  v1::ClusterStats stats;
  EXPECT_THAT(FormatStatsTable(stats),
              HasSubstr("hit ratio: - (no units yet)"));
}

TEST(StatsTableTest, WatchShowsRatesSinceThePreviousRefresh) {
  const v1::ClusterStats before = TwoReplicas(1000, 3000);
  const v1::ClusterStats now = TwoReplicas(1500, 5000);
  const std::string first = FormatStatsTable(now, nullptr, absl::Seconds(2));
  EXPECT_THAT(first, HasSubstr("computed/s  from_cache/s"));
  const std::string second = FormatStatsTable(now, &before, absl::Seconds(2));
  // (1500 - 1000) / 2 s and (5000 - 3000) / 2 s, for the replica and total.
  EXPECT_THAT(second, ContainsRegex("\n10.0.0.1:50052 +yes[^\n]* 1500 +250/s "
                                    "+1000/s\n"));
  EXPECT_THAT(second, ContainsRegex("\ntotal[^\n]* 1500 +250/s +1000/s\n"));
  // A replica that does not answer has no rate.
  EXPECT_THAT(second,
              ContainsRegex("\n10.0.0.2:50052 +no[^\n]* - +- +UNAVAILABLE"));
  // A restarted replica (counters went back) has no rate.
  const std::string restarted =
      FormatStatsTable(before, &now, absl::Seconds(2));
  EXPECT_THAT(restarted, ContainsRegex("\n10.0.0.1:50052[^\n]* 1000 +- +-\n"));
}

TEST(FlagCheckTest, KnownFlagsAndPositionalArgumentsPass) {
  EXPECT_TRUE(CheckFlags({"run", "--test_number=3", "1-5", "--test_switch",
                          "--notest_switch", "-test_number", "4", "--help",
                          "--", "--unknown"})
                  .ok());
}

TEST(FlagCheckTest, UnknownFlagsAndBadValuesAreNamed) {
  EXPECT_THAT(CheckFlags({"run", "--adress=x"}).message(),
              HasSubstr("unknown flag --adress"));
  EXPECT_THAT(CheckFlags({"--test_number=many"}).message(),
              HasSubstr("flag --test_number: 'many' is not a valid value"));
  EXPECT_THAT(CheckFlags({"--test_number"}).message(),
              HasSubstr("flag --test_number needs a value"));
  EXPECT_THAT(CheckFlags({"--test_switch=maybe"}).message(),
              HasSubstr("flag --test_switch: 'maybe'"));
}

}  // namespace
}  // namespace pieces::client
