#include "main_service/key_budget.h"

#include <cstddef>
#include <limits>

#include "gtest/gtest.h"

namespace pieces {
namespace {

TEST(KeyBudgetTest, TakesWhatFitsAndRefusesTheRest) {
  KeyBudget budget(150);
  EXPECT_TRUE(budget.TryTake(100));
  EXPECT_FALSE(budget.TryTake(51));
  EXPECT_EQ(budget.held(), 100u);
  EXPECT_TRUE(budget.TryTake(50));
  EXPECT_FALSE(budget.TryTake(1));
  budget.Give(100);
  EXPECT_EQ(budget.held(), 50u);
  EXPECT_TRUE(budget.TryTake(100));
  EXPECT_EQ(budget.held(), 150u);
}

TEST(KeyBudgetTest, ACallLargerThanTheWholeBudgetNeverFits) {
  KeyBudget budget(10);
  EXPECT_FALSE(budget.TryTake(11));
  // Not an overflow of held + n either.
  EXPECT_FALSE(budget.TryTake(std::numeric_limits<size_t>::max()));
  EXPECT_EQ(budget.held(), 0u);
}

TEST(KeyBudgetTest, ZeroCapacityMeansNoBound) {
  KeyBudget budget(0);
  EXPECT_TRUE(budget.TryTake(1'000'000'000));
  EXPECT_TRUE(budget.TryTake(1'000'000'000));
  EXPECT_EQ(budget.held(), 2'000'000'000u);
}

}  // namespace
}  // namespace pieces
