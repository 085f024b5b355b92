#include "tests/testing/cluster.h"

#include <utility>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/testing/main_client.h"
#include "tests/testing/test_process.h"

namespace pieces::testing {

Pair StartPair(std::vector<std::string> work_flags,
               std::vector<std::string> main_flags) {
  Pair pair;
  pair.work = StartWorkServiceOrFail(std::move(work_flags));
  main_flags.push_back("--work_address=" + pair.work.address);
  pair.main = StartMainServiceOrFail(std::move(main_flags));
  pair.stub = NewMainStub(pair.main.address);
  return pair;
}

Cluster StartCluster(const std::vector<std::vector<std::string>>& flags,
                     std::vector<std::string> main_flags) {
  Cluster cluster;
  std::vector<std::string> addresses;
  for (const std::vector<std::string>& replica_flags : flags) {
    cluster.works.push_back(StartWorkServiceOrFail(replica_flags));
    addresses.push_back(cluster.works.back().address);
  }
  cluster.work_address = absl::StrJoin(addresses, ",");
  main_flags.push_back("--work_address=" + cluster.work_address);
  cluster.main = StartMainServiceOrFail(std::move(main_flags));
  cluster.stub = NewMainStub(cluster.main.address);
  return cluster;
}

Cluster StartCluster(int replicas, const std::vector<std::string>& work_flags,
                     std::vector<std::string> main_flags) {
  return StartCluster(
      std::vector<std::vector<std::string>>(replicas, work_flags),
      std::move(main_flags));
}

std::vector<uint64_t> KeyRange(uint64_t first, uint64_t count) {
  std::vector<uint64_t> keys(count);
  for (uint64_t i = 0; i < count; ++i) keys[i] = first + i;
  return keys;
}

void ExpectAnswersInOrder(const std::vector<uint64_t>& keys,
                          const v1::RunReply& reply) {
  ASSERT_EQ(reply.results_size(), static_cast<int>(keys.size()));
  EXPECT_EQ(reply.completed(), keys.size());
  for (int i = 0; i < reply.results_size(); ++i) {
    const v1::Result& result = reply.results(i);
    ASSERT_EQ(result.id(), static_cast<uint64_t>(i));
    ASSERT_EQ(result.key(), keys[i]);
    ASSERT_FALSE(result.has_error()) << result.error().message();
    ASSERT_EQ(result.value(), keys[i]);
  }
}

}  // namespace pieces::testing
