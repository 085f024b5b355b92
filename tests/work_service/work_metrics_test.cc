// work_service's /metrics against the real binary: the counters agree with
// GetStats, each unit's time is observed once in its outcome, and promtool
// accepts the page.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/metrics_scrape.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CancelMessage;
using ::pieces::testing::FreeTcpPort;
using ::pieces::testing::HttpGet;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::ParseMetricsText;
using ::pieces::testing::PromtoolCheckMetrics;
using ::pieces::testing::SampleOr;
using ::pieces::testing::SessionStream;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;

std::string Units(const std::string& outcome) {
  return absl::StrCat("pieces_work_units_total{outcome=\"", outcome, "\"}");
}
std::string UnitSecondsCount(const std::string& outcome) {
  return absl::StrCat("pieces_work_unit_seconds_count{outcome=\"", outcome,
                      "\"}");
}

// One session with a unit of each outcome, on one pool thread whose work
// takes 1 s (odd keys fail): unit 0 computes key 2, unit 1 waits for it,
// unit 2 (key 4) is cancelled while queued behind it, unit 3 fails (key 3),
// and unit 4 finds key 2 cached.
void RunEveryOutcome(v1::WorkService::Stub& stub) {
  SessionStream session(stub);
  ASSERT_TRUE(session.Write(WorkMessage(0, 2)));
  ASSERT_TRUE(session.Write(WorkMessage(1, 2)));
  ASSERT_TRUE(session.Write(WorkMessage(2, 4)));
  ASSERT_TRUE(session.Write(CancelMessage({2})));
  ASSERT_TRUE(session.Write(WorkMessage(3, 3)));
  for (int i = 0; i < 4; ++i) {
    std::optional<v1::ResultMsg> message = session.Read();
    ASSERT_TRUE(message.has_value() && message->has_result());
  }
  ASSERT_TRUE(session.Write(WorkMessage(4, 2)));
  ASSERT_TRUE(session.WritesDone());
  const testing::SessionOutcome outcome = session.Finish();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
}

class WorkMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> port = FreeTcpPort();
    ASSERT_TRUE(port.ok()) << port.status();
    metrics_port_ = *port;
    service_ = StartWorkServiceOrFail(
        {"--threads=1", "--work=fail_odd:1s",
         absl::StrCat("--metrics_port=", metrics_port_)});
    ASSERT_NE(service_.process, nullptr);
    stub_ = NewWorkStub(service_.address);
  }

  // Runs RunEveryOutcome and waits until every unit and session is over.
  v1::Stats RunAndSettle() {
    RunEveryOutcome(*stub_);
    absl::StatusOr<v1::Stats> stats =
        AwaitStats(*stub_, [](const v1::Stats& s) {
          return s.in_flight() == 0 && s.sessions_active() == 0;
        });
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : v1::Stats();
  }

  std::string Scrape() {
    absl::StatusOr<std::string> page = HttpGet(metrics_port_, "/metrics");
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? *page : "";
  }

  int metrics_port_ = 0;
  ServiceProcess service_;
  std::unique_ptr<v1::WorkService::Stub> stub_;
};

TEST_F(WorkMetricsTest, CountersAgreeWithGetStats) {
  const v1::Stats stats = RunAndSettle();
  // The session made one unit of each outcome (two cached: one waited).
  EXPECT_EQ(stats.computed(), 1u);
  EXPECT_EQ(stats.from_cache(), 2u);
  EXPECT_EQ(stats.waited(), 1u);
  EXPECT_EQ(stats.failed(), 1u);
  EXPECT_EQ(stats.cancelled(), 1u);

  const std::map<std::string, double> m = ParseMetricsText(Scrape());
  EXPECT_EQ(SampleOr(m, Units("new")), stats.computed());
  EXPECT_EQ(SampleOr(m, Units("cached")), stats.from_cache());
  EXPECT_EQ(SampleOr(m, Units("waited")), stats.waited());
  EXPECT_EQ(SampleOr(m, Units("failed")), stats.failed());
  EXPECT_EQ(SampleOr(m, Units("cancelled")), stats.cancelled());
  EXPECT_EQ(SampleOr(m, "pieces_work_sessions_active"),
            stats.sessions_active());
  EXPECT_EQ(SampleOr(m, "pieces_work_sessions_total"), stats.sessions_total());
  EXPECT_EQ(SampleOr(m, "pieces_work_sessions_refused_total"),
            stats.sessions_refused());
  EXPECT_EQ(SampleOr(m, "pieces_work_in_flight"), stats.in_flight());
  EXPECT_EQ(SampleOr(m, "pieces_work_cache_entries"), stats.cache_entries());
  EXPECT_EQ(SampleOr(m, "pieces_work_cache_evictions_total"),
            stats.cache_evictions());
  EXPECT_EQ(SampleOr(m, "pieces_work_threads"), stats.threads());
  EXPECT_EQ(SampleOr(m, "pieces_work_keys_in_progress"), 0);
  EXPECT_EQ(SampleOr(m, "pieces_work_waiters"), 0);
}

TEST_F(WorkMetricsTest, EachUnitIsTimedOnceInItsOutcome) {
  RunAndSettle();
  const std::map<std::string, double> m = ParseMetricsText(Scrape());
  for (const char* outcome :
       {"new", "cached", "waited", "failed", "cancelled"}) {
    SCOPED_TRACE(outcome);
    EXPECT_GT(SampleOr(m, Units(outcome)), 0);
    EXPECT_EQ(SampleOr(m, UnitSecondsCount(outcome)),
              SampleOr(m, Units(outcome)));
    EXPECT_EQ(
        SampleOr(m, absl::StrCat("pieces_work_unit_seconds_bucket{outcome=\"",
                                 outcome, "\",le=\"+Inf\"}")),
        SampleOr(m, Units(outcome)));
  }
  // The computed and the failed unit each took their work's 1 s.
  EXPECT_GE(SampleOr(m, "pieces_work_unit_seconds_sum{outcome=\"new\"}"), 0.9);
  EXPECT_GE(SampleOr(m, "pieces_work_unit_seconds_sum{outcome=\"failed\"}"),
            0.9);
  // The cached unit found on arrival counts as 0 s, the one that waited as
  // its wait.
  EXPECT_EQ(SampleOr(m,
                     "pieces_work_unit_seconds_bucket{outcome=\"cached\","
                     "le=\"1e-05\"}"),
            1);
}

TEST_F(WorkMetricsTest, PromtoolAcceptsTheMetrics) {
  const std::string before = Scrape();
  EXPECT_TRUE(PromtoolCheckMetrics(before).ok())
      << PromtoolCheckMetrics(before) << "\n"
      << before;
  RunAndSettle();
  const std::string after = Scrape();
  EXPECT_TRUE(PromtoolCheckMetrics(after).ok())
      << PromtoolCheckMetrics(after) << "\n"
      << after;
}

}  // namespace
}  // namespace pieces
