#include "main_service/work_replicas.h"

#include <signal.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_process.h"

namespace pieces {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A resolver whose answers the test sets.
class FakeDns {
 public:
  void Set(const std::string& host,
           absl::StatusOr<std::vector<std::string>> names) {
    absl::MutexLock lock(&mu_);
    answers_.insert_or_assign(host, std::move(names));
  }

  WorkReplicas::Resolver resolver() {
    return [this](const std::string& host, const std::string& /*port*/)
               -> absl::StatusOr<std::vector<std::string>> {
      absl::MutexLock lock(&mu_);
      auto it = answers_.find(host);
      if (it == answers_.end())
        return absl::UnavailableError("unknown host " + host);
      return it->second;
    };
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> answers_
      ABSL_GUARDED_BY(mu_);
};

std::vector<std::string> Names(const ReplicaView& view) {
  std::vector<std::string> names;
  for (const auto& replica : view.replicas) names.push_back(replica->name);
  return names;
}

absl::StatusOr<std::unique_ptr<WorkReplicas>> Make(
    const std::string& targets, FakeDns* dns,
    absl::Duration resolve_interval = absl::Hours(1)) {
  WorkReplicas::Options options;
  options.targets = targets;
  options.resolver = dns->resolver();
  options.resolve_interval = resolve_interval;
  return WorkReplicas::Create(std::move(options));
}

TEST(WorkReplicasTest, MalformedAddressesAreRefusedWithTheReason) {
  FakeDns dns;
  for (const char* bad :
       {"", " , ", "work_service", "work_service:", ":50052", "work_service:0",
        "work_service:70000", "work_service:http", "[::1:50052"}) {
    absl::StatusOr<std::unique_ptr<WorkReplicas>> replicas = Make(bad, &dns);
    ASSERT_FALSE(replicas.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(replicas.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(replicas.status().message(), HasSubstr("--work_address"));
  }
}

TEST(WorkReplicasTest, ListsEveryAddressOfEveryEntrySortedWithoutRepeats) {
  FakeDns dns;
  dns.Set("work", std::vector<std::string>{"10.0.0.3:50052", "10.0.0.2:50052"});
  dns.Set("other", std::vector<std::string>{"10.0.0.9:7000", "10.0.0.2:50052"});
  auto replicas = Make("dns:///work:50052, other:7000", &dns);
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  auto view = (*replicas)->View();
  EXPECT_THAT(Names(*view),
              ElementsAre("10.0.0.2:50052", "10.0.0.3:50052", "10.0.0.9:7000"));
  EXPECT_THAT(view->down, ElementsAre(false, false, false));
  EXPECT_EQ(view->replicas[2]->target, "other:7000");
  EXPECT_TRUE(view->resolve_error.empty());
}

TEST(WorkReplicasTest, RefreshFollowsReplicasThatComeAndGoAndKeepsChannels) {
  FakeDns dns;
  dns.Set("work", std::vector<std::string>{"10.0.0.2:50052"});
  auto replicas = Make("work:50052", &dns);
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  auto first = (*replicas)->View();

  dns.Set("work", std::vector<std::string>{"10.0.0.2:50052", "10.0.0.3:50052"});
  (*replicas)->Refresh();
  auto second = (*replicas)->View();
  EXPECT_THAT(Names(*second), ElementsAre("10.0.0.2:50052", "10.0.0.3:50052"));
  // The replica that stayed keeps its channel (and its connection).
  EXPECT_EQ(second->replicas[0], first->replicas[0]);

  dns.Set("work", std::vector<std::string>{"10.0.0.3:50052"});
  (*replicas)->Refresh();
  auto third = (*replicas)->View();
  EXPECT_THAT(Names(*third), ElementsAre("10.0.0.3:50052"));
  EXPECT_EQ(third->replicas[0], second->replicas[1]);
  // A view taken earlier is unchanged.
  EXPECT_EQ(first->replicas.size(), 1u);
}

TEST(WorkReplicasTest, AFailedResolutionKeepsTheLastAddresses) {
  FakeDns dns;
  dns.Set("work", std::vector<std::string>{"10.0.0.2:50052"});
  auto replicas = Make("work:50052", &dns);
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  dns.Set("work", absl::UnavailableError("cannot resolve 'work': timeout"));
  (*replicas)->Refresh();
  auto view = (*replicas)->View();
  EXPECT_THAT(Names(*view), ElementsAre("10.0.0.2:50052"));
  EXPECT_THAT(view->resolve_error, HasSubstr("timeout"));
}

TEST(WorkReplicasTest, ANameThatNoLongerExistsHasNoReplica) {
  FakeDns dns;
  dns.Set("work", std::vector<std::string>{"10.0.0.2:50052"});
  auto replicas = Make("work:50052,other:50052", &dns);
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  dns.Set("work", absl::NotFoundError(
                      "cannot resolve 'work': Name or service not known"));
  (*replicas)->Refresh();
  auto view = (*replicas)->View();
  EXPECT_TRUE(view->replicas.empty());
  EXPECT_THAT(view->resolve_error, HasSubstr("Name or service not known"));
  EXPECT_THAT(view->resolve_error, HasSubstr("unknown host other"));
}

TEST(WorkReplicasTest, ANameThatResolvesLaterIsPickedUpInTheBackground) {
  FakeDns dns;  // "work" unknown at first.
  auto replicas = Make("work:50052", &dns, absl::Milliseconds(20));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  EXPECT_TRUE((*replicas)->View()->replicas.empty());
  EXPECT_THAT((*replicas)->View()->resolve_error, HasSubstr("unknown host"));
  dns.Set("work", std::vector<std::string>{"10.0.0.2:50052"});
  // The background thread re-resolves on its own; nothing signals it here,
  // so watch the view until it changes.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*replicas)->View()->replicas.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(Names(*(*replicas)->View()), ElementsAre("10.0.0.2:50052"));
}

TEST(WorkReplicasTest, AReplicaReportedUnavailableIsDownUntilItAnswersAgain) {
  ServiceProcess work = testing::StartWorkServiceOrFail({});
  const std::string name = "127.0.0.1:" + std::to_string(work.port);
  WorkReplicas::Options options;
  options.targets = work.address;  // localhost:PORT, through real DNS.
  options.retry_interval = absl::Milliseconds(20);
  auto replicas = WorkReplicas::Create(std::move(options));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  // "localhost" is one replica (its IPv4 address), not one per family.
  EXPECT_THAT(Names(*(*replicas)->View()), ElementsAre(name));

  // Frozen, it cannot answer a check: the report alone decides.
  work.process->Signal(SIGSTOP);
  (*replicas)->ReportUnavailable(name);
  EXPECT_TRUE((*replicas)->View()->down[0]);
  (*replicas)->Refresh();  // A check that gets no answer.
  EXPECT_TRUE((*replicas)->View()->down[0]);
  work.process->Signal(SIGCONT);
  // The service is up again: the background check reaches it and routes
  // to it again. Nothing signals that, so watch the view.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*replicas)->View()->down[0] && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_FALSE((*replicas)->View()->down[0]);
}

TEST(WorkReplicasTest, AReplicaThatStaysAwayStaysDown) {
  // A port nothing listens on: take a free one from a service, then stop it.
  ServiceProcess work = testing::StartWorkServiceOrFail({});
  work.process.reset();  // Stopped (and checked) by the harness.
  const std::string name = "127.0.0.1:" + std::to_string(work.port);
  WorkReplicas::Options options;
  options.targets = name;
  options.retry_interval = absl::Milliseconds(20);
  auto replicas = WorkReplicas::Create(std::move(options));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  (*replicas)->ReportUnavailable(name);
  EXPECT_TRUE((*replicas)->View()->down[0]);
  for (int i = 0; i < 5; ++i) (*replicas)->Refresh();
  EXPECT_TRUE((*replicas)->View()->down[0]);
  EXPECT_THAT(Names(*(*replicas)->View()), ElementsAre(name));
}

TEST(ResolveDnsTest, LocalhostIsItsIpv4AddressOnly) {
  absl::StatusOr<std::vector<std::string>> names =
      ResolveDns("localhost", "50052");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("127.0.0.1:50052"));
  names = ResolveDns("::1", "50052");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("[::1]:50052"));
  names = ResolveDns("10.1.2.3", "7000");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("10.1.2.3:7000"));
}

}  // namespace
}  // namespace pieces
