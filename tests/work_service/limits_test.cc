// Bounded resources of work_service, shown against the real binary: the
// session limit, the message size limit, the bounded cache, and backpressure
// on a client that floods a session without reading its results.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tests/testing/joining_thread.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::GetStats;
using ::pieces::testing::JoiningThread;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::RunKeys;
using ::pieces::testing::RunSession;
using ::pieces::testing::SessionOutcome;
using ::pieces::testing::StartWorkServiceOrFail;
using ::pieces::testing::WorkMessage;
using ::testing::HasSubstr;

// A deadline for calls that take well under a second when all is well.
std::chrono::system_clock::time_point BoundFromNow() {
  return std::chrono::system_clock::now() + std::chrono::seconds(30);
}

// A field of /proc/PID/status in kB, e.g. "VmRSS" or "VmHWM"; an error if the
// file cannot be read or has no such field, so that a bound on it cannot pass
// for want of a number.
absl::StatusOr<int64_t> ProcStatusKb(pid_t pid, const std::string& field) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  std::ifstream status(path);
  if (!status) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t kb = -1;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb) && kb >= 0) {
      return kb;
    }
    return absl::InternalError(
        absl::StrCat(path, ": unreadable line '", line, "'"));
  }
  return absl::NotFoundError(absl::StrCat(path, " has no ", field));
}

TEST(LimitsTest, SessionsOverTheLimitAreRefusedClearly) {
  ServiceProcess service = StartWorkServiceOrFail({"--max_sessions=2"});
  auto stub = NewWorkStub(service.address);
  // Two sessions held open. The calls are bounded, so that a session the
  // service never ends fails the test instead of hanging it.
  grpc::ClientContext first_context, second_context;
  first_context.set_deadline(BoundFromNow());
  second_context.set_deadline(BoundFromNow());
  auto first = stub->Process(&first_context);
  auto second = stub->Process(&second_context);
  ASSERT_TRUE(first->Write(WorkMessage(1, 1)));
  ASSERT_TRUE(second->Write(WorkMessage(1, 2)));
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.sessions_active() == 2;
              }).ok());

  SessionOutcome refused = RunKeys(*stub, {3});
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("--max_sessions"));

  // Once one ends, a new session is served.
  ASSERT_TRUE(first->Write(ExitMessage()));
  first->WritesDone();
  v1::ResultMsg message;
  while (first->Read(&message)) {
  }
  ASSERT_TRUE(first->Finish().ok());
  ASSERT_TRUE(AwaitStats(*stub, [](const v1::Stats& s) {
                return s.sessions_active() == 1;
              }).ok());
  EXPECT_TRUE(RunKeys(*stub, {4}).status.ok());
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sessions_refused(), 1u);
  second_context.TryCancel();
}

TEST(LimitsTest, MessagesOverTheSizeLimitAreRefusedClearly) {
  ServiceProcess service = StartWorkServiceOrFail({"--max_message_bytes=1024"});
  auto stub = NewWorkStub(service.address);
  v1::WorkMsg huge = WorkMessage(1, 1);
  // A field this service does not know carries the bulk.
  huge.GetReflection()->MutableUnknownFields(&huge)->AddLengthDelimited(
      99, std::string(4096, 'x'));
  SessionOutcome outcome = RunSession(*stub, {huge, ExitMessage()});
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << outcome.status.error_message();
  // The server's words: a client over its own limit would say "Sent ...".
  EXPECT_THAT(outcome.status.error_message(),
              HasSubstr("Received message larger than max (4"));
  // The service goes on.
  EXPECT_TRUE(RunKeys(*stub, {1}).status.ok());
}

TEST(LimitsTest, CacheKeepsAtMostItsCapacity) {
  // One thread: keys are published in request order, so recency is known.
  ServiceProcess service =
      StartWorkServiceOrFail({"--cache_capacity=10", "--threads=1"});
  auto stub = NewWorkStub(service.address);
  std::vector<uint64_t> keys;
  for (uint64_t key = 0; key < 25; ++key) keys.push_back(key);
  ASSERT_TRUE(RunKeys(*stub, keys).status.ok());
  absl::StatusOr<v1::Stats> stats = GetStats(*stub);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->cache_entries(), 10u);
  EXPECT_EQ(stats->cache_evictions(), 15u);
  EXPECT_EQ(stats->cache_capacity(), 10u);
  // The most recent keys are the ones kept.
  SessionOutcome recent = RunKeys(*stub, {24, 15});
  EXPECT_EQ(recent.CountPerformed(v1::PERFORMED_FROM_CACHE), 2);
  SessionOutcome evicted = RunKeys(*stub, {0});
  EXPECT_EQ(evicted.CountPerformed(v1::PERFORMED_NEW), 1);
}

// Far more results (about 20 MB) than the client's flow-control window
// takes, also in sanitizer builds: with 100,000 units (2 MB), a service that
// keeps up with its reads (as the async one does under ThreadSanitizer) wrote
// every result into the client's window and never stalled. Under TSan the
// test takes about 30 s.
constexpr uint64_t kFloodUnits = 1000000;
#ifdef PIECES_SANITIZED
// Sanitizers inflate memory several times.
constexpr int64_t kGrowthBoundKb = 256 * 1024;
#else
constexpr int64_t kGrowthBoundKb = 32 * 1024;
#endif
// The whole flood may take this long before the test calls it a hang.
constexpr std::chrono::minutes kFloodBound(10);

// AddressSanitizer keeps freed memory in quarantine (256 MB by default) to
// catch late uses, so under it a process that allocates and frees a lot, as
// a million-unit flood does, grows by that much whatever it holds. The
// service started after this gets a quarantine of 8 MB: the bound then
// measures what the service holds. (The test runs alone in its process.)
void ShrinkAsanQuarantineOfServicesStartedFromNowOn() {
#if defined(__SANITIZE_ADDRESS__)
  const char* options = getenv("ASAN_OPTIONS");
  const std::string value =
      absl::StrCat(options != nullptr ? options : "", " quarantine_size_mb=8");
  setenv("ASAN_OPTIONS", value.c_str(), /*overwrite=*/1);
#endif
}

TEST(LimitsTest, FloodWithoutReadingStaysBoundedAndLosesNothing) {
  ShrinkAsanQuarantineOfServicesStartedFromNowOn();
  ServiceProcess service =
      StartWorkServiceOrFail({"--threads=2", "--max_in_flight=1024"});
  const pid_t pid = service.process->pid();
  const absl::StatusOr<int64_t> idle_rss_kb = ProcStatusKb(pid, "VmRSS");
  ASSERT_TRUE(idle_rss_kb.ok()) << idle_rss_kb.status();
  auto stub = NewWorkStub(service.address);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kFloodBound);
  auto session = stub->Process(&context);
  JoiningThread writer([&] {
    for (uint64_t i = 0; i < kFloodUnits; ++i) {
      if (!session->Write(WorkMessage(i, i % 1000))) return;
    }
    session->Write(ExitMessage());
    session->WritesDone();
  });
  // If an ASSERT ends the test early, the writer, stalled by flow control,
  // must be let go before it is joined.
  absl::Cleanup release_writer = [&] { context.TryCancel(); };

  // Nothing is read yet. The service fills its per-session cap, stops
  // reading, and HTTP/2 flow control stalls the writer. The cap is exact:
  // never a unit more in flight, however fast the client writes.
  absl::StatusOr<v1::Stats> stalled = AwaitStats(
      *stub, [](const v1::Stats& s) { return s.in_flight() >= 1024; },
      absl::Seconds(60));
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  EXPECT_EQ(stalled->in_flight(), 1024u);
  EXPECT_LT(stalled->work_received(), kFloodUnits);
  const absl::StatusOr<int64_t> stalled_rss_kb = ProcStatusKb(pid, "VmRSS");
  ASSERT_TRUE(stalled_rss_kb.ok()) << stalled_rss_kb.status();
  // Still within the cap a moment later (results the client's window still
  // took may have let it dip below).
  absl::StatusOr<v1::Stats> later = GetStats(*stub);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_LE(later->in_flight(), 1024u);

  // Now read: every result arrives, once, then Exited.
  std::vector<bool> seen(kFloodUnits, false);
  uint64_t results = 0;
  bool exited_last = false;
  v1::ResultMsg message;
  while (session->Read(&message)) {
    ASSERT_FALSE(exited_last) << "a message after Exited";
    if (message.has_exited()) {
      exited_last = true;
      EXPECT_EQ(message.exited().completed(), kFloodUnits);
      continue;
    }
    const uint64_t id = message.result().id();
    ASSERT_LT(id, kFloodUnits);
    ASSERT_FALSE(seen[id]) << "id " << id << " answered twice";
    seen[id] = true;
    ++results;
  }
  writer.Join();
  EXPECT_TRUE(session->Finish().ok());
  EXPECT_EQ(results, kFloodUnits);
  EXPECT_TRUE(exited_last);

  const absl::StatusOr<int64_t> peak_rss_kb = ProcStatusKb(pid, "VmHWM");
  ASSERT_TRUE(peak_rss_kb.ok()) << peak_rss_kb.status();
  // Printed for the record. Without backpressure a million queued units
  // would take hundreds of MB; measured here: about 8 MB of growth.
  fprintf(
      stderr,
      "flood of %llu units: RSS idle %lld kB, stalled %lld kB, peak %lld kB "
      "(%llu received when the writer stalled)\n",
      static_cast<unsigned long long>(kFloodUnits),
      static_cast<long long>(*idle_rss_kb),
      static_cast<long long>(*stalled_rss_kb),
      static_cast<long long>(*peak_rss_kb),
      static_cast<unsigned long long>(stalled->work_received()));
  EXPECT_LT(*peak_rss_kb - *idle_rss_kb, kGrowthBoundKb);
}

}  // namespace
}  // namespace pieces
