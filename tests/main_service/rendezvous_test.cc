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
  // Fixed values, computed once (FNV-1a, then the splitmix64 finalizer):
  // every main_service, in any process or version, must route a key to the
  // same replica, so these may never change.
  EXPECT_EQ(ReplicaNameHash("10.0.0.2:50052"), 0x33fedd788c72b933ULL);
  EXPECT_EQ(ReplicaNameHash("10.0.0.3:50052"), 0x83d7fcedfa6022c0ULL);
  EXPECT_EQ(ReplicaNameHash("10.0.0.4:50052"), 0x34f9e165ad11ce6fULL);
  EXPECT_NE(ReplicaNameHash("10.0.0.2:50052"),
            ReplicaNameHash("10.0.0.2:50053"));
}

TEST(RendezvousTest, WeightsAndOwnersAreFixed) {
  const std::vector<uint64_t> hashes = Hashes(kThree);
  EXPECT_EQ(RendezvousWeight(0, hashes[0]), 0x6b9478f33592e4c2ULL);
  EXPECT_EQ(RendezvousWeight(1, hashes[1]), 0xcf9d7d5df1dbf305ULL);
  EXPECT_EQ(RendezvousWeight(42, hashes[2]), 0x38c20b5f72b3b0bfULL);
  EXPECT_EQ(RendezvousWeight(UINT64_MAX, hashes[1]), 0xc90a5459471670dcULL);
  // The owners of keys 0 to 19 among kThree.
  const std::vector<size_t> owners = {0, 1, 2, 0, 1, 0, 0, 1, 1, 1,
                                      0, 1, 1, 0, 1, 2, 2, 2, 1, 1};
  for (uint64_t key = 0; key < owners.size(); ++key) {
    EXPECT_EQ(RendezvousOwner(key, hashes), owners[key]) << "key " << key;
  }
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
  for (uint64_t key = 0; key < keys; ++key)
    ++count[RendezvousOwner(key, hashes)];
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
      EXPECT_EQ(after, four[3])
          << "key " << key << " moved between old replicas";
      ++taken;
    }
  }
  // About a quarter of the keys.
  EXPECT_GT(taken, 2000);
  EXPECT_LT(taken, 3000);
}

}  // namespace
}  // namespace pieces
