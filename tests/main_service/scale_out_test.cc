// main_service in front of several work_service replicas, all real
// processes: key affinity (each key computed once across the cluster, keys
// spread evenly), a replica killed in the middle of a Run, replicas that
// come back, none left.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/joining_thread.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::CallRun;
using ::pieces::testing::Cluster;
using ::pieces::testing::ExpectAnswersInOrder;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::KeyRange;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::StartCluster;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;
using ::testing::HasSubstr;

v1::ClusterStats ClusterStats(v1::MainService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::ClusterStats stats;
  grpc::Status status =
      stub.GetClusterStats(&context, v1::GetClusterStatsRequest(), &stats);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return stats;
}

TEST(ScaleOutTest,
     EachKeyIsComputedOnceAcrossThreeReplicasAndKeysSpreadEvenly) {
  Cluster cluster = StartCluster(3, {"--work=echo", "--threads=2"});
  // 10,000 keys, each requested three times: in order, reversed, shuffled.
  std::vector<uint64_t> keys = KeyRange(0, 10000);
  for (int round = 0; round < 3; ++round) {
    if (round == 1) std::reverse(keys.begin(), keys.end());
    if (round == 2) std::shuffle(keys.begin(), keys.end(), std::mt19937(7));
    v1::RunReply reply;
    grpc::Status status = CallRun(*cluster.stub, keys, &reply);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ExpectAnswersInOrder(keys, reply);
  }

  v1::ClusterStats stats = ClusterStats(*cluster.stub);
  ASSERT_EQ(stats.replicas_size(), 3);
  EXPECT_EQ(stats.replicas_answered(), 3u);
  EXPECT_EQ(stats.total().computed(), 10000u);
  EXPECT_EQ(stats.total().from_cache(), 20000u);
  EXPECT_EQ(stats.total().work_received(), 30000u);
  EXPECT_EQ(stats.total().cache_entries(), 10000u);
  EXPECT_EQ(stats.units_resent(), 0u);
  const double mean = 10000 / 3.0;
  uint64_t computed = 0;
  for (const v1::ReplicaStats& replica : stats.replicas()) {
    SCOPED_TRACE(replica.address());
    EXPECT_TRUE(replica.routable());
    EXPECT_FALSE(replica.has_error());
    // Each replica computed exactly the keys it holds: no key was computed
    // on two replicas.
    EXPECT_EQ(replica.stats().computed(), replica.stats().cache_entries());
    // Each replica holds within 10% of the mean.
    EXPECT_LE(replica.stats().cache_entries(), mean * 1.10);
    EXPECT_GE(replica.stats().cache_entries(), mean * 0.90);
    computed += replica.stats().computed();
  }
  EXPECT_EQ(computed, stats.total().computed());
  // The per-replica figures are the replicas' own.
  for (const ServiceProcess& work : cluster.works) {
    absl::StatusOr<v1::Stats> own =
        testing::GetStats(*NewWorkStub(work.address));
    ASSERT_TRUE(own.ok()) << own.status();
    const std::string name = "127.0.0.1:" + std::to_string(work.port);
    auto listed = std::find_if(
        stats.replicas().begin(), stats.replicas().end(),
        [&](const v1::ReplicaStats& r) { return r.address() == name; });
    ASSERT_NE(listed, stats.replicas().end()) << name;
    EXPECT_EQ(listed->stats().computed(), own->computed());
  }
}

TEST(ScaleOutTest, RunStreamAcrossReplicasAnswersEveryUnitOnceThenExited) {
  Cluster cluster = StartCluster(3, {"--work=echo", "--threads=2"});
  std::vector<uint64_t> keys = KeyRange(500, 3000);
  keys.insert(keys.end(), keys.begin(), keys.begin() + 1000);  // Repeats.
  grpc::ClientContext context;
  v1::RunRequest request;
  for (uint64_t key : keys) request.add_keys(key);
  auto reader = cluster.stub->RunStream(&context, request);
  std::vector<int> seen(keys.size());
  v1::ResultMsg message;
  bool exited = false;
  while (reader->Read(&message)) {
    ASSERT_FALSE(exited) << "a message after Exited";
    if (message.has_exited()) {
      exited = true;
      EXPECT_EQ(message.exited().completed(), keys.size());
      continue;
    }
    ASSERT_TRUE(message.has_result());
    const v1::Result& result = message.result();
    ASSERT_LT(result.id(), keys.size());
    ++seen[result.id()];
    EXPECT_EQ(result.value(), keys[result.id()]);
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(exited);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1),
            static_cast<long>(keys.size()));
  EXPECT_EQ(ClusterStats(*cluster.stub).total().computed(), 3000u);
}

TEST(ScaleOutTest, AReplicaKilledInTheMiddleOfARunLosesNoResult) {
  // The victim's share (about 2,000 keys) takes 20 s, so that it is killed
  // with most of it still to do however slowly this test runs; the others'
  // work is quick, so that re-sending its share costs the test little.
  const std::vector<std::string> quick = {"--work=sleep:2ms", "--threads=2"};
  Cluster cluster =
      StartCluster({quick, {"--work=sleep:20ms", "--threads=2"}, quick});
  const std::vector<uint64_t> keys = KeyRange(100000, 6000);
  ServiceProcess& victim = cluster.works[1];
  auto victim_stub = NewWorkStub(victim.address);

  grpc::Status status;
  v1::RunReply reply;
  JoiningThread caller([&] {
    status = CallRun(*cluster.stub, keys, &reply, absl::Seconds(60));
  });
  // Kill it once it has done some of its share, with most still to do.
  absl::StatusOr<v1::Stats> before = AwaitStats(
      *victim_stub, [](const v1::Stats& s) { return s.computed() >= 50; });
  ASSERT_TRUE(before.ok()) << before.status();
  victim.process->Signal(SIGKILL);
  caller.Join();

  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectAnswersInOrder(keys, reply);
  v1::ClusterStats stats = ClusterStats(*cluster.stub);
  EXPECT_GT(stats.units_resent(), 0u);
  EXPECT_EQ(stats.replicas_answered(), 2u);
  // The survivors computed each of their keys once, and not the keys the
  // victim had answered before it died (those went to the caller already).
  EXPECT_EQ(stats.total().computed(), stats.total().cache_entries());
  EXPECT_LE(stats.total().cache_entries(), 6000 - before->computed());
  // The victim is still listed, with why it did not answer.
  const std::string victim_name = "127.0.0.1:" + std::to_string(victim.port);
  auto listed = std::find_if(
      stats.replicas().begin(), stats.replicas().end(),
      [&](const v1::ReplicaStats& r) { return r.address() == victim_name; });
  ASSERT_NE(listed, stats.replicas().end()) << victim_name << " not listed";
  EXPECT_TRUE(listed->has_error());
  EXPECT_EQ(listed->error().code(), grpc::StatusCode::UNAVAILABLE);

  // The same keys again: answered by the two left.
  v1::RunReply again;
  status = CallRun(*cluster.stub, keys, &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectAnswersInOrder(keys, again);
}

TEST(ScaleOutTest, AReplicaThatComesBackGetsItsKeysAgainWithoutRestartingMain) {
  Cluster cluster = StartCluster(3, {"--work=echo", "--threads=2"});
  const int port = cluster.works[2].port;
  cluster.works[2].process->Signal(SIGKILL);
  ASSERT_TRUE(cluster.works[2].process->AwaitExit(absl::Seconds(10)).ok());

  // With it gone, every key goes to the other two.
  v1::RunReply reply;
  grpc::Status status = CallRun(*cluster.stub, KeyRange(0, 3000), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectAnswersInOrder(KeyRange(0, 3000), reply);

  // Back on the same port: main's check reaches it and routes its keys to
  // it again.
  cluster.works[2] = StartWorkServiceOrFail(
      {"--work=echo", "--threads=2", "--port=" + std::to_string(port)});
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  v1::ClusterStats stats;
  do {
    stats = ClusterStats(*cluster.stub);
  } while (
      (stats.replicas_answered() != 3 ||
       !std::all_of(stats.replicas().begin(), stats.replicas().end(),
                    [](const v1::ReplicaStats& r) { return r.routable(); })) &&
      absl::Now() < deadline);
  ASSERT_EQ(stats.replicas_answered(), 3u);

  status = CallRun(*cluster.stub, KeyRange(0, 3000), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectAnswersInOrder(KeyRange(0, 3000), reply);
  absl::StatusOr<v1::Stats> back =
      testing::GetStats(*NewWorkStub(cluster.works[2].address));
  ASSERT_TRUE(back.ok()) << back.status();
  // About a third of the keys are its own again (recomputed: its cache was
  // lost).
  EXPECT_GT(back->computed(), 700u);
  EXPECT_LT(back->computed(), 1300u);
}

// A replica frozen with SIGSTOP keeps its connections open and answers
// nothing: only main's keepalive pings find it out.
TEST(ScaleOutTest,
     AFrozenReplicaLosesNoResultIsAvoidedAndIsUsedAgainOnceItAnswers) {
  Cluster cluster = StartCluster(2, {"--work=sleep:5ms", "--threads=2"});
  ServiceProcess& victim = cluster.works[1];
  auto victim_stub = NewWorkStub(victim.address);
  // A stopped process cannot drain on SIGTERM when the test ends: resume it
  // however the test ends.
  absl::Cleanup resume = [&victim] { victim.process->Signal(SIGCONT); };

  // About 1,000 keys each, 2.5 s of work per replica: frozen with most of
  // its share still to do. The deadline only keeps a bug from hanging the
  // test; main's sessions to work_service have none.
  const std::vector<uint64_t> keys = KeyRange(200000, 2000);
  grpc::Status status;
  v1::RunReply reply;
  absl::Time frozen;
  {
    JoiningThread caller([&] {
      status = CallRun(*cluster.stub, keys, &reply, absl::Seconds(60));
    });
    absl::StatusOr<v1::Stats> before =
        AwaitStats(*victim_stub, [](const v1::Stats& s) {
          return s.work_received() > 0 && s.computed() >= 20;
        });
    ASSERT_TRUE(before.ok()) << before.status();
    frozen = absl::Now();
    victim.process->Signal(SIGSTOP);
  }  // Joins the caller.
  std::fprintf(stderr, "the Run ended %s after the replica froze\n",
               absl::FormatDuration(absl::Now() - frozen).c_str());
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Every key once, right, in order: nothing lost, nothing twice.
  ExpectAnswersInOrder(keys, reply);
  v1::ClusterStats stats = ClusterStats(*cluster.stub);
  EXPECT_GT(stats.units_resent(), 0u);
  EXPECT_EQ(stats.replicas_answered(), 1u);
  const std::string victim_name = "127.0.0.1:" + std::to_string(victim.port);
  auto listed = [&](const v1::ClusterStats& s) {
    return std::find_if(
        s.replicas().begin(), s.replicas().end(),
        [&](const v1::ReplicaStats& r) { return r.address() == victim_name; });
  };
  ASSERT_NE(listed(stats), stats.replicas().end()) << victim_name;
  EXPECT_FALSE(listed(stats)->routable());

  // While it stays frozen, new Runs go to the other replica only.
  for (int round = 0; round < 3; ++round) {
    const std::vector<uint64_t> more = KeyRange(300000 + round * 1000, 1000);
    v1::RunReply again;
    const absl::Time start = absl::Now();
    status = CallRun(*cluster.stub, more, &again, absl::Seconds(60));
    ASSERT_TRUE(status.ok()) << status.error_message();
    ExpectAnswersInOrder(more, again);
    std::fprintf(stderr, "a Run of 1,000 keys with the replica frozen: %s\n",
                 absl::FormatDuration(absl::Now() - start).c_str());
  }

  // Resumed: main's check reaches it again and routes to it.
  victim.process->Signal(SIGCONT);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    stats = ClusterStats(*cluster.stub);
  } while ((stats.replicas_answered() != 2 ||
            listed(stats) == stats.replicas().end() ||
            !listed(stats)->routable()) &&
           absl::Now() < deadline);
  ASSERT_EQ(stats.replicas_answered(), 2u);
  ASSERT_TRUE(listed(stats)->routable());
  absl::StatusOr<v1::Stats> resumed = testing::GetStats(*victim_stub);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  const std::vector<uint64_t> last = KeyRange(400000, 1000);
  v1::RunReply after;
  status = CallRun(*cluster.stub, last, &after, absl::Seconds(60));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectAnswersInOrder(last, after);
  absl::StatusOr<v1::Stats> used = testing::GetStats(*victim_stub);
  ASSERT_TRUE(used.ok()) << used.status();
  // About half of the new keys are its own.
  EXPECT_GT(used->work_received(), resumed->work_received() + 300);
  // The frozen session was closed by main: its late results had nowhere to
  // go (the replies above hold each key once), and it is not open.
  EXPECT_LE(used->sessions_active(), 1u);

  // Pings every second, through busy and idle spells, never counted as
  // abuse.
  for (const ServiceProcess* process :
       {&cluster.main, &cluster.works[0], &cluster.works[1]}) {
    EXPECT_THAT(process->process->output(),
                ::testing::Not(HasSubstr("too_many_pings")));
  }
}

TEST(ScaleOutTest, NoReplicaLeftIsUnavailableNamingTheAddress) {
  Cluster cluster = StartCluster(2, {"--work=echo"});
  for (ServiceProcess& work : cluster.works) {
    work.process->Signal(SIGKILL);
    ASSERT_TRUE(work.process->AwaitExit(absl::Seconds(10)).ok());
  }
  v1::RunReply reply;
  grpc::Status status = CallRun(*cluster.stub, KeyRange(0, 100), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(
      status.error_message(),
      HasSubstr("work_service at " + cluster.work_address + " is unavailable"));
  v1::ClusterStats stats = ClusterStats(*cluster.stub);
  EXPECT_EQ(stats.replicas_size(), 2);
  EXPECT_EQ(stats.replicas_answered(), 0u);
}

TEST(ScaleOutTest, AMalformedWorkAddressStopsMainServiceAtStart) {
  auto process = testing::StartTestProcess(
      testing::MainServiceBinary(),
      {"--port=0", "--work_address=localhost:50052,work_service"});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> code = (*process)->AwaitExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 2);
  EXPECT_THAT((*process)->output(),
              HasSubstr("--work_address: 'work_service' is not host:port"));
}

}  // namespace
}  // namespace pieces
