// A randomized stress of work_service through the real binary: many
// concurrent sessions, random keys from a small range, failures for half the
// keys and random client cancellations; then the invariants are checked.
#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::AwaitStats;
using ::pieces::testing::ExitMessage;
using ::pieces::testing::NewWorkStub;
using ::pieces::testing::StartWorkService;
using ::pieces::testing::WorkMessage;

constexpr int kSessions = 64;
#ifdef PIECES_SANITIZED
constexpr uint64_t kUnitsPerSession = 1600;  // About 10^5 in all.
#else
constexpr uint64_t kUnitsPerSession = 15625;  // 10^6 in all.
#endif
constexpr uint64_t kKeyRange = 200;

// What one session saw.
struct SessionReport {
  bool cancelled = false;
  grpc::Status status;
  uint64_t results = 0;
  bool duplicate = false;     // An id answered twice.
  bool wrong = false;         // A wrong value or a missing error.
  bool after_exited = false;  // A message after Exited.
  bool exited = false;
  uint64_t exited_completed = 0;
};

SessionReport RunOneSession(const std::string& address, uint64_t seed) {
  std::mt19937_64 random(seed);
  // One session in eight is cancelled by its client after a random number of
  // results.
  const bool cancel = random() % 8 == 0;
  const uint64_t cancel_after = random() % kUnitsPerSession;
  std::vector<uint64_t> keys(kUnitsPerSession);
  for (uint64_t& key : keys) key = random() % kKeyRange;

  auto stub = NewWorkStub(address);
  grpc::ClientContext context;
  auto stream = stub->Process(&context);
  // Write and read at once: the service stops reading a session whose
  // results are not read.
  std::thread writer([&] {
    for (uint64_t id = 0; id < keys.size(); ++id) {
      if (!stream->Write(WorkMessage(id, keys[id]))) return;
    }
    stream->Write(ExitMessage());
    stream->WritesDone();
  });

  SessionReport report;
  std::vector<bool> seen(kUnitsPerSession, false);
  v1::ResultMsg message;
  while (stream->Read(&message)) {
    if (report.exited) report.after_exited = true;
    if (message.has_exited()) {
      report.exited = true;
      report.exited_completed = message.exited().completed();
      continue;
    }
    const v1::Result& result = message.result();
    if (result.id() >= kUnitsPerSession || seen[result.id()]) {
      report.duplicate = true;
      continue;
    }
    seen[result.id()] = true;
    ++report.results;
    const uint64_t key = keys[result.id()];
    const bool should_fail = key % 2 == 1;  // fail_odd work.
    if (result.key() != key || result.has_error() != should_fail ||
        (!should_fail && result.value() != key)) {
      report.wrong = true;
    }
    if (cancel && report.results == cancel_after) {
      report.cancelled = true;
      context.TryCancel();
    }
  }
  writer.join();
  report.status = stream->Finish();
  return report;
}

TEST(StressTest,
     ConcurrentSessionsWithFailuresAndCancellationsKeepTheInvariants) {
  absl::StatusOr<ServiceProcess> service =
      StartWorkService({"--work=fail_odd:0s", "--threads=2"});
  ASSERT_TRUE(service.ok()) << service.status();

  std::vector<SessionReport> reports(kSessions);
  std::vector<std::thread> clients;
  for (int s = 0; s < kSessions; ++s) {
    clients.emplace_back([&, s] {
      reports[s] = RunOneSession(service->address, /*seed=*/1000 + s);
    });
  }
  for (std::thread& client : clients) client.join();

  int cancelled = 0;
  for (int s = 0; s < kSessions; ++s) {
    const SessionReport& report = reports[s];
    SCOPED_TRACE(::testing::Message() << "session " << s);
    EXPECT_FALSE(report.duplicate);
    EXPECT_FALSE(report.wrong);
    EXPECT_FALSE(report.after_exited);
    if (report.cancelled) {
      ++cancelled;
      // The client cancelled after reading result number `cancel_after`,
      // then called Finish. gRPC ends a call cancelled before its Finish with
      // CANCELLED even if the service's status had already arrived (in 1.51,
      // still so after reading every result and the Exited: the service's OK
      // is dropped). So CANCELLED, exactly: OK would mean the cancel never
      // took effect, any other code a status that is not the client's.
      EXPECT_EQ(report.status.error_code(), grpc::StatusCode::CANCELLED)
          << "a cancelled session ended with: "
          << report.status.error_message();
      continue;
    }
    EXPECT_TRUE(report.status.ok()) << report.status.error_message();
    EXPECT_EQ(report.results, kUnitsPerSession);
    EXPECT_TRUE(report.exited);
    EXPECT_EQ(report.exited_completed, kUnitsPerSession);
  }
  EXPECT_GT(cancelled, 0);  // The seeds make some sessions cancel.

  auto stub = NewWorkStub(service->address);
  absl::StatusOr<v1::Stats> stats = AwaitStats(*stub, [](const v1::Stats& s) {
    return s.in_flight() == 0 && s.sessions_active() == 0;
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  // Every unit received ended one way.
  EXPECT_EQ(stats->work_received(), stats->computed() + stats->from_cache() +
                                        stats->failed() + stats->cancelled());
  // Each even key was computed exactly once (the cache keeps them all); odd
  // keys always fail and are never cached.
  EXPECT_EQ(stats->computed(), kKeyRange / 2);
  EXPECT_EQ(stats->cache_entries(), kKeyRange / 2);
}

}  // namespace
}  // namespace pieces
