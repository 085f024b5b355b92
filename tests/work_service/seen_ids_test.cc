#include "work_service/seen_ids.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace pieces {
namespace {

TEST(SeenIdsTest, RefusesRepeatsInAnyOrder) {
  SeenIds ids;
  EXPECT_TRUE(ids.Insert(5));
  EXPECT_TRUE(ids.Insert(0));
  EXPECT_FALSE(ids.Insert(5));
  EXPECT_FALSE(ids.Insert(0));
  EXPECT_TRUE(ids.Insert(1));
  EXPECT_TRUE(ids.Insert(UINT64_MAX));
  EXPECT_FALSE(ids.Insert(UINT64_MAX));
}

TEST(SeenIdsTest, ContainsWhatWasInsertedOnly) {
  SeenIds ids;
  EXPECT_FALSE(ids.Contains(0));
  ASSERT_TRUE(ids.Insert(0));
  ASSERT_TRUE(ids.Insert(1));
  ASSERT_TRUE(ids.Insert(7));
  EXPECT_TRUE(ids.Contains(0));  // In the dense prefix.
  EXPECT_TRUE(ids.Contains(1));
  EXPECT_TRUE(ids.Contains(7));  // Stored apart.
  EXPECT_FALSE(ids.Contains(2));
  EXPECT_FALSE(ids.Contains(8));
  EXPECT_FALSE(ids.Contains(UINT64_MAX));
}

TEST(SeenIdsTest, CountingIdsStoreNothing) {
  SeenIds ids;
  for (uint64_t id = 0; id < 100000; ++id) ASSERT_TRUE(ids.Insert(id));
  EXPECT_EQ(ids.sparse_size(), 0u);
  EXPECT_FALSE(ids.Insert(99999));
  EXPECT_FALSE(ids.Insert(0));
}

TEST(SeenIdsTest, ShuffledIdsFoldIntoThePrefixOnceComplete) {
  std::vector<uint64_t> order(5000);
  for (uint64_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(3));
  SeenIds ids;
  for (uint64_t id : order) ASSERT_TRUE(ids.Insert(id));
  EXPECT_EQ(ids.sparse_size(), 0u);
  for (uint64_t id : order) ASSERT_FALSE(ids.Insert(id));
}

}  // namespace
}  // namespace pieces
