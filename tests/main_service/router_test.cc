#include "main_service/router.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "main_service/rendezvous.h"

namespace pieces {
namespace {

// A view of replicas named `names` (no channels: the router needs none),
// `down[i]` saying which are down.
ReplicaView MakeView(const std::vector<std::string>& names,
                     const std::vector<bool>& down) {
  ReplicaView view;
  for (const std::string& name : names) {
    auto replica = std::make_shared<WorkReplica>();
    replica->name = name;
    replica->hash = ReplicaNameHash(name);
    view.replicas.push_back(replica);
  }
  view.down = down;
  return view;
}

const std::vector<std::string> kThree = {"10.0.0.2:50052", "10.0.0.3:50052",
                                         "10.0.0.4:50052"};

TEST(RouterTest, EachKeyGoesToItsRendezvousOwner) {
  const ReplicaView view = MakeView(kThree, {false, false, false});
  const Router router(view, {});
  ASSERT_FALSE(router.empty());
  std::vector<uint64_t> hashes;
  for (const auto& replica : view.replicas) hashes.push_back(replica->hash);
  std::vector<int> per_replica(3);
  for (uint64_t key = 0; key < 3000; ++key) {
    EXPECT_EQ(router.Owner(key), RendezvousOwner(key, hashes)) << key;
    ++per_replica[router.Owner(key)];
  }
  for (int count : per_replica) EXPECT_GT(count, 800);
}

TEST(RouterTest, LeavesOutDownAndFailedReplicas) {
  const ReplicaView view = MakeView(kThree, {false, true, false});
  const std::vector<std::string> failed = {"10.0.0.4:50052"};
  const Router router(view, failed);
  ASSERT_FALSE(router.empty());
  // Only the first is up and not failed: it owns every key.
  for (uint64_t key = 0; key < 1000; ++key) EXPECT_EQ(router.Owner(key), 0u);
}

TEST(RouterTest, UsesDownReplicasWhenNoneIsUp) {
  // A replica that has just come back is used at once, before the check
  // that marks it up again.
  const ReplicaView view = MakeView(kThree, {true, true, false});
  const std::vector<std::string> failed = {"10.0.0.4:50052"};
  const Router router(view, failed);
  ASSERT_FALSE(router.empty());
  std::vector<uint64_t> both = {view.replicas[0]->hash, view.replicas[1]->hash};
  for (uint64_t key = 0; key < 1000; ++key) {
    EXPECT_EQ(router.Owner(key), RendezvousOwner(key, both)) << key;
  }
}

TEST(RouterTest, IsEmptyWhenEveryReplicaFailedOrNoneIsKnown) {
  const ReplicaView view = MakeView(kThree, {false, true, false});
  EXPECT_TRUE(Router(view, kThree).empty());
  EXPECT_TRUE(Router(MakeView({}, {}), {}).empty());
}

}  // namespace
}  // namespace pieces
