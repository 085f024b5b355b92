// main_service's /metrics against the real binaries: the counters agree with
// the calls made and with GetClusterStats, and promtool accepts the page.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/main_client.h"
#include "tests/testing/metrics_scrape.h"
#include "tests/testing/test_process.h"

namespace pieces {
namespace {

using ::pieces::testing::CallRun;
using ::pieces::testing::FreeTcpPort;
using ::pieces::testing::HttpGet;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::ParseMetricsText;
using ::pieces::testing::PromtoolCheckMetrics;
using ::pieces::testing::SampleOr;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;

std::string Calls(const std::string& method, const std::string& code) {
  return absl::StrCat("pieces_main_calls_total{method=\"", method, "\",code=\"",
                      code, "\"}");
}

class MainMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> port = FreeTcpPort();
    ASSERT_TRUE(port.ok()) << port.status();
    metrics_port_ = *port;
    work_ = StartWorkServiceOrFail({"--threads=2"});
    ASSERT_NE(work_.process, nullptr);
    main_ = StartMainServiceOrFail(
        {absl::StrCat("--work_address=", work_.address),
         absl::StrCat("--metrics_port=", metrics_port_)});
    ASSERT_NE(main_.process, nullptr);
    stub_ = NewMainStub(main_.address);
  }

  std::string Scrape() {
    absl::StatusOr<std::string> page = HttpGet(metrics_port_, "/metrics");
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? *page : "";
  }

  // Three Runs (10 keys in all, 3 of them repeated), one Run with no key
  // (INVALID_ARGUMENT), one RunStream of 4 keys.
  void MakeCalls() {
    for (const std::vector<uint64_t>& keys : std::vector<std::vector<uint64_t>>{
             {1, 2, 3}, {1, 2, 3, 4}, {5, 6, 7}}) {
      v1::RunReply reply;
      const grpc::Status status = CallRun(*stub_, keys, &reply);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    v1::RunReply reply;
    EXPECT_EQ(CallRun(*stub_, std::vector<uint64_t>{}, &reply).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext context;
    v1::RunRequest request;
    for (uint64_t key : {8, 9, 10, 1}) request.add_keys(key);
    std::unique_ptr<grpc::ClientReader<v1::ResultMsg>> reader =
        stub_->RunStream(&context, request);
    v1::ResultMsg message;
    int results = 0;
    while (reader->Read(&message)) results += message.has_result() ? 1 : 0;
    const grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(results, 4);
  }

  int metrics_port_ = 0;
  ServiceProcess work_;
  ServiceProcess main_;
  std::unique_ptr<v1::MainService::Stub> stub_;
};

TEST_F(MainMetricsTest, CountersAgreeWithTheCallsAndGetClusterStats) {
  MakeCalls();
  grpc::ClientContext context;
  v1::ClusterStats cluster;
  const grpc::Status status =
      stub_->GetClusterStats(&context, v1::GetClusterStatsRequest(), &cluster);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(cluster.replicas_size(), 1);
  const std::string replica = cluster.replicas(0).address();

  const std::map<std::string, double> m = ParseMetricsText(Scrape());
  EXPECT_EQ(SampleOr(m, Calls("Run", "OK")), 3);
  EXPECT_EQ(SampleOr(m, Calls("Run", "INVALID_ARGUMENT")), 1);
  EXPECT_EQ(SampleOr(m, Calls("RunStream", "OK")), 1);
  EXPECT_EQ(SampleOr(m, "pieces_main_call_seconds_count{method=\"Run\"}"), 4);
  EXPECT_EQ(SampleOr(m, "pieces_main_call_seconds_count{method=\"RunStream\"}"),
            1);
  EXPECT_EQ(SampleOr(m, "pieces_main_keys_total"), 14);
  EXPECT_EQ(SampleOr(m, "pieces_main_units_resent_total"),
            cluster.units_resent());
  EXPECT_EQ(SampleOr(m, "pieces_main_replicas{state=\"routable\"}"), 1);
  EXPECT_EQ(SampleOr(m, "pieces_main_replicas{state=\"down\"}"), 0);
  const std::string label = absl::StrCat("{replica=\"", replica, "\"}");
  EXPECT_EQ(SampleOr(m, "pieces_main_replica_up" + label), 1);
  // Every unit main sent is one work_service received, and was answered.
  EXPECT_EQ(SampleOr(m, "pieces_main_replica_units_sent_total" + label),
            cluster.total().work_received());
  EXPECT_EQ(SampleOr(m, "pieces_main_replica_units_answered_total" + label),
            cluster.total().work_received());
  EXPECT_EQ(cluster.total().work_received(), 14u);
}

TEST_F(MainMetricsTest, PromtoolAcceptsTheMetrics) {
  const std::string before = Scrape();
  EXPECT_TRUE(PromtoolCheckMetrics(before).ok())
      << PromtoolCheckMetrics(before) << "\n"
      << before;
  MakeCalls();
  const std::string after = Scrape();
  EXPECT_TRUE(PromtoolCheckMetrics(after).ok())
      << PromtoolCheckMetrics(after) << "\n"
      << after;
}

}  // namespace
}  // namespace pieces
