#include "main_service/rendezvous.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace pieces {
namespace {

std::vector<uint64_t> Hashes(const std::vector<std::string>& names) {
  std::vector<uint64_t> hashes;
  for (const std::string& name : names) hashes.push_back(ReplicaNameHash(name));
  return hashes;
}

const std::vector<std::string> kThree = {"10.0.0.2:50052", "10.0.0.3:50052",
                                         "10.0.0.4:50052"};

TEST(RendezvousTest, NameHashIsStableAcrossRuns) {
  // Fixed values: every main_service, in any process or version, must route
  // a key to the same replica.
  EXPECT_EQ(ReplicaNameHash("10.0.0.2:50052"), ReplicaNameHash("10.0.0.2:50052"));
  EXPECT_NE(ReplicaNameHash("10.0.0.2:50052"), ReplicaNameHash("10.0.0.2:50053"));
  EXPECT_NE(ReplicaNameHash("10.0.0.2:50052"), ReplicaNameHash("10.0.0.3:50052"));
}

TEST(RendezvousTest, OwnerHasTheHighestWeight) {
  const std::vector<uint64_t> hashes = Hashes(kThree);
  for (uint64_t key = 0; key < 1000; ++key) {
    const size_t owner = RendezvousOwner(key, hashes);
    for (size_t i = 0; i < hashes.size(); ++i) {
      EXPECT_GE(RendezvousWeight(key, hashes[owner]),
                RendezvousWeight(key, hashes[i]));
    }
  }
}

TEST(RendezvousTest, OwnerDoesNotDependOnTheOrderOfReplicas) {
  std::vector<uint64_t> hashes = Hashes(kThree);
  std::vector<uint64_t> reversed(hashes.rbegin(), hashes.rend());
  for (uint64_t key = 0; key < 1000; ++key) {
    EXPECT_EQ(hashes[RendezvousOwner(key, hashes)],
              reversed[RendezvousOwner(key, reversed)]);
  }
}

TEST(RendezvousTest, KeysSpreadEvenly) {
  const std::vector<uint64_t> hashes = Hashes(kThree);
  std::vector<int> count(hashes.size());
  const int keys = 30000;
  for (uint64_t key = 0; key < keys; ++key) ++count[RendezvousOwner(key, hashes)];
  const double mean = keys / 3.0;
  for (int c : count) {
    EXPECT_LT(c, mean * 1.05);
    EXPECT_GT(c, mean * 0.95);
  }
}

TEST(RendezvousTest, OnlyTheLeavingReplicasKeysMove) {
  const std::vector<uint64_t> three = Hashes(kThree);
  const std::vector<uint64_t> two = {three[0], three[2]};  // [1] left.
  int moved = 0;
  for (uint64_t key = 0; key < 10000; ++key) {
    const uint64_t before = three[RendezvousOwner(key, three)];
    const uint64_t after = two[RendezvousOwner(key, two)];
    if (before != three[1]) {
      EXPECT_EQ(after, before) << "key " << key << " moved needlessly";
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(RendezvousTest, ANewcomerTakesKeysOnlyForItself) {
  const std::vector<uint64_t> three = Hashes(kThree);
  std::vector<uint64_t> four = three;
  four.push_back(ReplicaNameHash("10.0.0.5:50052"));
  int taken = 0;
  for (uint64_t key = 0; key < 10000; ++key) {
    const uint64_t before = three[RendezvousOwner(key, three)];
    const uint64_t after = four[RendezvousOwner(key, four)];
    if (after != before) {
      EXPECT_EQ(after, four[3]) << "key " << key << " moved between old replicas";
      ++taken;
    }
  }
  // About a quarter of the keys.
  EXPECT_GT(taken, 2000);
  EXPECT_LT(taken, 3000);
}

}  // namespace
}  // namespace pieces
