// work_service's keepalive towards its clients (--keepalive_time,
// --keepalive_timeout): a client that froze with a session open (its
// connection open, nothing answering on it) is found out by the server's
// pings, and its session is cleaned up as if it had cancelled.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::StartTestProcess;
using ::pieces::testing::StartWorkServiceOrFail;

TEST(KeepaliveTest,
     AFrozenClientsSessionIsEndedAndItsStartedWorkFillsTheCache) {
  // The unit takes longer than the client takes to be found out (2 to 3 s:
  // a ping after 1 s of silence, 1 s to answer it), so that its session
  // ends while the unit still computes; in_flight counts the unit until it
  // is done.
  ServiceProcess work =
      StartWorkServiceOrFail({"--work=sleep:6s", "--threads=1",
                              "--keepalive_time=1s", "--keepalive_timeout=1s"});
  auto stub = NewWorkStub(work.address);
  absl::StatusOr<std::unique_ptr<ChildProcess>> client = StartTestProcess(
      PIECES_HOLD_SESSION_BIN, {"--address=" + work.address, "--key=7"});
  ASSERT_TRUE(client.ok()) << client.status();
  // A stopped process cannot be stopped with SIGTERM when the test ends.
  absl::Cleanup kill = [&client] { (*client)->Signal(SIGKILL); };
  ASSERT_TRUE((*client)->AwaitOutput("hold_session: sent", absl::Seconds(20)));
  absl::StatusOr<v1::Stats> started = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.sessions_active() == 1 && s.in_flight() == 1;
  });
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->sessions_active(), 1u);
  ASSERT_EQ(started->in_flight(), 1u);

  (*client)->Signal(SIGSTOP);
  const absl::Time frozen = absl::Now();
  absl::StatusOr<v1::Stats> ended = AwaitStats(
      *stub, [](const v1::Stats& s) { return s.sessions_active() == 0; },
      absl::Seconds(20));
  ASSERT_TRUE(ended.ok()) << ended.status();
  std::fprintf(stderr,
               "the frozen client's session ended %s after it froze, its "
               "unit %s\n",
               absl::FormatDuration(absl::Now() - frozen).c_str(),
               ended->computed() == 0 ? "still computing" : "computed");
  EXPECT_EQ(ended->sessions_active(), 0u);

  // The unit it had started is answered to nobody, and fills the cache.
  absl::StatusOr<v1::Stats> cached = AwaitStats(
      *stub,
      [](const v1::Stats& s) {
        return s.in_flight() == 0 && s.cache_entries() == 1;
      },
      absl::Seconds(20));
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->in_flight(), 0u);
  EXPECT_EQ(cached->computed(), 1u);
  EXPECT_EQ(cached->cache_entries(), 1u);
  EXPECT_EQ(cached->sessions_active(), 0u);
}

}  // namespace
}  // namespace pieces
