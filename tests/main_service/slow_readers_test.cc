// Callers that stop reading, and main's memory: a RunStream holds at most
// --work_call_share results per replica for its caller, and sends its further
// units only as the caller takes results; once read, every result arrives
// once. Calls whose keys would pass --max_keys_in_progress are refused.
#include <signal.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/joining_thread.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitClusterStats;
using ::pieces::testing::AwaitStats;
using ::pieces::testing::CallRun;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::NewMainStub;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunRequestOf;
using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartWorkServiceOrFail;
using ::testing::HasSubstr;

// The resident memory of process `pid`, in bytes (VmRSS).
uint64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    uint64_t kb = 0;
    EXPECT_TRUE(absl::SimpleAtoi(rest, &kb)) << line;
    return kb * 1024;
  }
  ADD_FAILURE() << "no VmRSS for " << pid;
  return 0;
}

struct Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::ResultMsg>> reader;
  uint64_t first_id = 0;  // The id of the one result read at first.
};

TEST(SlowReadersTest, StreamsWhoseCallersStopReadingStopSendingAndLoseNothing) {
  ServiceProcess work = StartWorkServiceOrFail({"--work=echo", "--threads=2"});
  ServiceProcess main =
      StartMainServiceOrFail({"--work_address=" + work.address});
  // The callers' flow-control windows stay at gRPC's initial 64 KiB: with
  // BDP probing, a C++ client widens them to take whole streams into its own
  // memory even when its application does not read, and main has nothing to
  // hold back.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stub = v1::MainService::NewStub(grpc::CreateCustomChannel(
      main.address, grpc::InsecureChannelCredentials(), args));
  auto work_stub = NewWorkStub(work.address);
  auto main_stub = NewMainStub(main.address);
  constexpr uint64_t kKeys = 100'000;
  std::vector<uint64_t> keys(kKeys);
  for (uint64_t i = 0; i < kKeys; ++i) keys[i] = i;
  const v1::RunRequest request = RunRequestOf(keys);
  {
    // Fill the cache and warm main up: its RSS before the slow callers.
    Stream warm;
    warm.reader = stub->RunStream(&warm.context, request);
    v1::ResultMsg message;
    while (warm.reader->Read(&message)) {
    }
    ASSERT_TRUE(warm.reader->Finish().ok());
  }
  const uint64_t before = ResidentBytes(main.process->pid());

  // 100 callers each start a stream of 100,000 keys and read one message,
  // then stop reading. The first ones fit in main's key budget (the default
  // --max_keys_in_progress, 1,000,000 keys) and get their first result; the
  // others are refused at once with RESOURCE_EXHAUSTED.
  constexpr int kStreams = 100;
  constexpr uint64_t kBudget = 1'000'000;
  // The warm-up call's keys are given back once gRPC is done with it, which
  // may come a little after its caller had its status.
  ASSERT_TRUE(AwaitClusterStats(*main_stub, [](const v1::ClusterStats& s) {
                return s.keys_in_progress() == 0;
              }).ok());
  std::vector<std::unique_ptr<Stream>> streams;
  int refused = 0;
  for (int i = 0; i < kStreams; ++i) {
    auto stream = std::make_unique<Stream>();
    stream->reader = stub->RunStream(&stream->context, request);
    v1::ResultMsg first;
    if (stream->reader->Read(&first)) {
      ASSERT_TRUE(first.has_result());
      stream->first_id = first.result().id();
      streams.push_back(std::move(stream));
      continue;
    }
    const grpc::Status status = stream->reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("--max_keys_in_progress"));
    ++refused;
  }
  EXPECT_EQ(streams.size(), kBudget / kKeys);
  EXPECT_EQ(refused, kStreams - static_cast<int>(kBudget / kKeys));
  // main stops sending their units once its buffers and the callers' flow
  // control windows are full: work_service's count stops moving (unchanged
  // over 20 polls, 10 ms apart, while nothing is in flight).
  uint64_t last = 0;
  int unchanged = 0;
  absl::StatusOr<v1::Stats> quiet = AwaitStats(
      *work_stub,
      [&](const v1::Stats& s) {
        unchanged = (s.work_received() == last && s.in_flight() == 0)
                        ? unchanged + 1
                        : 0;
        last = s.work_received();
        return unchanged >= 20;
      },
      absl::Seconds(120));
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  const uint64_t after = ResidentBytes(main.process->pid());
  const uint64_t sent = quiet->work_received() - kKeys;
  std::printf(
      "%d streams of %d keys, callers not reading (%zu taken, %d refused): "
      "main_service RSS %.1f MB -> %.1f MB; units sent %llu of %llu\n",
      kStreams, static_cast<int>(kKeys), streams.size(), refused, before / 1e6,
      after / 1e6, static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(streams.size() * kKeys));
  // Each call sends no more than what its caller's window and its share
  // (--work_call_share, 256) hold: a few thousand of its 100,000 units.
  EXPECT_LT(sent, streams.size() * kKeys / 10)
      << "the slow callers' units were sent";
  // The bound for these 100 callers. Sanitizers keep freed memory in
  // quarantine and add shadow memory, so their figure says nothing of main's.
  if (std::string(PIECES_SANITIZE).empty()) {
    EXPECT_LE(after, before + 64'000'000) << "main_service grew by more than "
                                             "64 MB for 100 slow callers";
  }

  // The callers read on: every result once, then Exited last.
  for (const auto& stream : streams) {
    std::vector<bool> seen(kKeys);
    seen[stream->first_id] = true;
    uint64_t results = 1;
    v1::ResultMsg message;
    bool exited = false;
    while (stream->reader->Read(&message)) {
      ASSERT_FALSE(exited) << "a message after Exited";
      if (message.has_exited()) {
        exited = true;
        EXPECT_EQ(message.exited().completed(), kKeys);
        continue;
      }
      ASSERT_TRUE(message.has_result());
      const v1::Result& result = message.result();
      ASSERT_EQ(result.value(), result.key());
      ASSERT_EQ(result.key(), result.id());
      ASSERT_LT(result.id(), kKeys);
      ASSERT_FALSE(seen[result.id()]) << "id " << result.id() << " twice";
      seen[result.id()] = true;
      ++results;
    }
    EXPECT_TRUE(stream->reader->Finish().ok());
    EXPECT_TRUE(exited);
    EXPECT_EQ(results, kKeys);
  }
}

// The key budget applies to Run too (which holds its whole reply until it is
// complete): with --max_keys_in_progress=150, a Run of 100 keys in progress
// leaves room for 50 more keys, not 100; once it ends, its keys are free
// again. The replica is frozen (SIGSTOP), and main's keepalive is made long
// enough not to give up on it, so the first Run stays in progress for as long
// as the test needs.
TEST(SlowReadersTest, CallsBeyondTheKeyBudgetAreRefusedUntilKeysAreFree) {
  ServiceProcess work = StartWorkServiceOrFail({"--work=echo"});
  ServiceProcess main = StartMainServiceOrFail(
      {"--work_address=" + work.address, "--max_keys=100",
       "--max_keys_in_progress=150", "--work_keepalive_time=1h"});
  auto stub = NewMainStub(main.address);
  std::vector<uint64_t> hundred(100), fifty(50);
  for (uint64_t i = 0; i < 100; ++i) hundred[i] = i;
  for (uint64_t i = 0; i < 50; ++i) fifty[i] = 1000 + i;
  // The session to the replica opens before it freezes.
  v1::RunReply warm;
  ASSERT_TRUE(CallRun(*stub, {5000}, &warm).ok());
  work.process->Signal(SIGSTOP);

  v1::RunReply first_reply, fifty_reply;
  grpc::Status first_status, fifty_status;
  {
    JoiningThread first([&] {
      first_status = CallRun(*stub, hundred, &first_reply, absl::Minutes(2));
    });
    ASSERT_TRUE(AwaitClusterStats(*stub, [](const v1::ClusterStats& s) {
                  return s.keys_in_progress() == 100;
                }).ok());
    v1::RunReply refused_reply;
    const grpc::Status refused = CallRun(*stub, hundred, &refused_reply);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(refused.error_message(),
                HasSubstr("holds 100 keys of calls in progress; with this "
                          "call's 100 it would pass its bound of 150 "
                          "(--max_keys_in_progress)"));
    JoiningThread second([&] {
      fifty_status = CallRun(*stub, fifty, &fifty_reply, absl::Minutes(2));
    });
    ASSERT_TRUE(AwaitClusterStats(*stub, [](const v1::ClusterStats& s) {
                  return s.keys_in_progress() == 150;
                }).ok());
    EXPECT_EQ(CallRun(*stub, {7}, &refused_reply).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
    work.process->Signal(SIGCONT);
  }
  ASSERT_TRUE(first_status.ok()) << first_status.error_message();
  ASSERT_TRUE(fifty_status.ok()) << fifty_status.error_message();
  ASSERT_EQ(first_reply.results_size(), 100);
  ASSERT_EQ(fifty_reply.results_size(), 50);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(first_reply.results(i).value(), hundred[i]);
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(fifty_reply.results(i).value(), fifty[i]);
  }
  ASSERT_TRUE(AwaitClusterStats(*stub, [](const v1::ClusterStats& s) {
                return s.keys_in_progress() == 0;
              }).ok());
  v1::RunReply again;
  EXPECT_TRUE(CallRun(*stub, hundred, &again).ok());
}

}  // namespace
}  // namespace pieces
