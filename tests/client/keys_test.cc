// client/keys.h: numbers, ranges, @FILE, and bad input named clearly.
#include "client/keys.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pieces::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A file in the test's temporary directory holding `contents`; its path.
std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream(path) << contents;
  return path;
}

TEST(KeysTest, NumbersAndRangesKeepTheirOrderAndRepeats) {
  absl::StatusOr<std::vector<uint64_t>> keys =
      ParseKeys({"7", "1-3", "7", "0", "5-5"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre(7, 1, 2, 3, 7, 0, 5));
}

TEST(KeysTest, ARangeOfAHundredThousandHasEveryKey) {
  absl::StatusOr<std::vector<uint64_t>> keys = ParseKeys({"1-100000"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 100000u);
  EXPECT_EQ(keys->front(), 1u);
  EXPECT_EQ(keys->back(), 100000u);
}

TEST(KeysTest, TheLargestKeyEndsARange) {
  absl::StatusOr<std::vector<uint64_t>> keys =
      ParseKeys({"18446744073709551614-18446744073709551615"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre(18446744073709551614u, 18446744073709551615u));
}

TEST(KeysTest, AFileHoldsKeysAndRangesSeparatedByAnyWhitespace) {
  const std::string path = WriteFile("keys.txt", "4\n5 6\t10-12\r\n\n  3\n");
  absl::StatusOr<std::vector<uint64_t>> keys =
      ParseKeys({"1", absl::StrCat("@", path), "2"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre(1, 4, 5, 6, 10, 11, 12, 3, 2));
}

TEST(KeysTest, BadArgumentsAreInvalidArgumentNamingThem) {
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"1", "x"}, "'x' is not a key"},
      {{"-5"}, "'-5' is not a range"},
      {{"+5"}, "'+5' is not a key"},
      {{"1.5"}, "'1.5' is not a key"},
      {{""}, "'' is not a key"},
      {{"18446744073709551616"}, "'18446744073709551616' is not a key"},
      {{"5-"}, "'5-' is not a range"},
      {{"1-2-3"}, "'1-2-3' is not a range"},
      {{"9-3"}, "'9-3' is an empty range"},
      {{"0-18446744073709551615"}, "more than 10000000 keys"},
      {{"@"}, "'@' names no file"},
      {{"@/nonexistent/keys"}, "@/nonexistent/keys: cannot read"},
      {{}, "no keys"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<uint64_t>> keys = ParseKeys(c.args);
    ASSERT_FALSE(keys.ok()) << c.named;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(keys.status().message(), HasSubstr(c.named));
  }
}

TEST(KeysTest, ABadWordInAFileNamesTheFileAndTheWord) {
  const std::string path = WriteFile("bad_keys.txt", "1 2\nthree\n");
  absl::StatusOr<std::vector<uint64_t>> keys =
      ParseKeys({absl::StrCat("@", path)});
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr(absl::StrCat("@", path)));
  EXPECT_THAT(keys.status().message(), HasSubstr("'three' is not a key"));
}

TEST(KeysTest, AnEmptyFileGivesNoKeys) {
  const std::string path = WriteFile("empty_keys.txt", " \n\n");
  absl::StatusOr<std::vector<uint64_t>> keys =
      ParseKeys({absl::StrCat("@", path)});
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("no keys"));
}

}  // namespace
}  // namespace pieces::client
