#include "work_service/work_function.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pieces {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kKeys[] = {
    0, 1, 2, 42, 1000003, std::numeric_limits<uint64_t>::max()};

// Makes the work function for `spec`, failing the test if it is rejected.
std::unique_ptr<WorkFunction> MustMake(const std::string& spec) {
  absl::StatusOr<std::unique_ptr<WorkFunction>> work = MakeWorkFunction(spec);
  EXPECT_TRUE(work.ok()) << spec << ": " << work.status();
  if (!work.ok()) return nullptr;
  return *std::move(work);
}

TEST(WorkFunctionTest, EchoReturnsTheKey) {
  std::unique_ptr<WorkFunction> work = MustMake("echo");
  ASSERT_NE(work, nullptr);
  for (uint64_t key : kKeys) {
    absl::StatusOr<uint64_t> value = work->Compute(key);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, key);
  }
}

TEST(WorkFunctionTest, SleepZeroReturnsTheKey) {
  std::unique_ptr<WorkFunction> work = MustMake("sleep:0s");
  ASSERT_NE(work, nullptr);
  for (uint64_t key : kKeys) {
    absl::StatusOr<uint64_t> value = work->Compute(key);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, key);
  }
}

TEST(WorkFunctionTest, KeyMsSleepsTheKeysLastFourDigitsInMilliseconds) {
  std::unique_ptr<WorkFunction> work = MustMake("key_ms");
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->Describe(), "key_ms");
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<uint64_t> value = work->Compute(70020);  // 20 ms.
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, 70020u);
  EXPECT_GE(elapsed, std::chrono::milliseconds(20));
}

TEST(WorkFunctionTest, SleepReturnsTheKeyAfterAtLeastTheDuration) {
  std::unique_ptr<WorkFunction> work = MustMake("sleep:20ms");
  ASSERT_NE(work, nullptr);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<uint64_t> value = work->Compute(77);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, 77u);
  // A lower bound only: sleeping is never shorter than asked.
  EXPECT_GE(elapsed, std::chrono::milliseconds(20));
}

TEST(WorkFunctionTest, CpuZeroRoundsReturnsTheKey) {
  std::unique_ptr<WorkFunction> work = MustMake("cpu:0");
  ASSERT_NE(work, nullptr);
  for (uint64_t key : kKeys) {
    absl::StatusOr<uint64_t> value = work->Compute(key);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, key);
    EXPECT_EQ(MixRounds(key, 0), key);
  }
}

TEST(WorkFunctionTest, CpuIsDeterministicAndMixesTheKey) {
  std::unique_ptr<WorkFunction> work = MustMake("cpu:1000");
  ASSERT_NE(work, nullptr);
  for (uint64_t key : kKeys) {
    absl::StatusOr<uint64_t> first = work->Compute(key);
    absl::StatusOr<uint64_t> second = work->Compute(key);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(*first, *second) << "key " << key;
    EXPECT_EQ(*first, MixRounds(key, 1000)) << "key " << key;
    EXPECT_NE(*first, key) << "key " << key;
  }
  // splitmix64 is a bijection, so distinct keys give distinct values.
  EXPECT_NE(*work->Compute(1), *work->Compute(2));
  EXPECT_NE(*work->Compute(0), *work->Compute(42));
  // More rounds give a different function.
  EXPECT_NE(MixRounds(42, 1000), MixRounds(42, 999));
}

TEST(WorkFunctionTest, MixRoundsOneRoundIsSplitmix64) {
  // The first outputs of the reference splitmix64 generator seeded with 0:
  // each is one round applied to the previous state.
  EXPECT_EQ(MixRounds(0, 1), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(MixRounds(0x9e3779b97f4a7c15ULL, 1), 0x6e789e6aa1b965f4ULL);
}

TEST(WorkFunctionTest, FailOddFailsOddKeysAndReturnsEvenKeys) {
  std::unique_ptr<WorkFunction> work = MustMake("fail_odd:0s");
  ASSERT_NE(work, nullptr);
  for (uint64_t key : {0ULL, 2ULL, 4ULL, 1000ULL}) {
    absl::StatusOr<uint64_t> value = work->Compute(key);
    ASSERT_TRUE(value.ok()) << "key " << key << ": " << value.status();
    EXPECT_EQ(*value, key);
  }
  for (uint64_t key : {1ULL, 3ULL, 1001ULL, 0xffffffffffffffffULL}) {
    absl::StatusOr<uint64_t> value = work->Compute(key);
    EXPECT_EQ(value.status().code(), absl::StatusCode::kInternal)
        << "key " << key;
    EXPECT_THAT(std::string(value.status().message()),
                HasSubstr(absl::StrCat(key)));
  }
}

TEST(WorkFunctionTest, DescribeRoundTrips) {
  // Specs already in canonical form are described as written.
  for (const std::string spec :
       {"echo", "sleep:20ms", "sleep:1.5s", "sleep:1h30m", "cpu:0", "cpu:1000",
        "fail_odd:5ms"}) {
    std::unique_ptr<WorkFunction> work = MustMake(spec);
    ASSERT_NE(work, nullptr);
    EXPECT_EQ(work->Describe(), spec);
  }
  // Other spellings are described canonically, and the description makes an
  // equivalent function.
  for (const std::string spec : {"sleep:0s", "sleep:1000ms", "fail_odd:0s"}) {
    std::unique_ptr<WorkFunction> work = MustMake(spec);
    ASSERT_NE(work, nullptr);
    std::unique_ptr<WorkFunction> again = MustMake(work->Describe());
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->Describe(), work->Describe()) << spec;
  }
  EXPECT_EQ(MustMake("sleep:1000ms")->Describe(), "sleep:1s");
}

TEST(WorkFunctionTest, BlockWaitsForItsFileThenReturnsTheKey) {
  const std::string path =
      ::testing::TempDir() + "/block_" + std::to_string(getpid());
  std::remove(path.c_str());
  std::unique_ptr<WorkFunction> work = MustMake("block:" + path);
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->Describe(), "block:" + path);
  std::future<absl::StatusOr<uint64_t>> value =
      std::async(std::launch::async, [&] { return work->Compute(42); });
  // Blocked while the file is missing (a correct build never gets past it).
  EXPECT_EQ(value.wait_for(std::chrono::milliseconds(100)),
            std::future_status::timeout);
  std::ofstream(path).put('x');
  absl::StatusOr<uint64_t> result = value.get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 42u);
  std::remove(path.c_str());
}

class BadSpecTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadSpecTest, IsInvalidArgumentNamingTheSpec) {
  const std::string& spec = GetParam();
  absl::StatusOr<std::unique_ptr<WorkFunction>> work = MakeWorkFunction(spec);
  ASSERT_FALSE(work.ok()) << "accepted '" << spec << "' as "
                          << (*work)->Describe();
  EXPECT_EQ(work.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(work.status().message()),
              HasSubstr(absl::StrCat("--work=", spec)));
}

INSTANTIATE_TEST_SUITE_P(
    WorkFunctionTest, BadSpecTest,
    ::testing::Values("", "bogus", "sleep", "sleep:", "sleep:abc", "sleep:-1s",
                      "sleep:inf", "sleep:-inf", "sleep:1", "cpu",
                      "cpu:", "cpu:-5", "cpu:abc", "cpu:1.5", "cpu:0x10",
                      "cpu:18446744073709551616", "echo:1", "echo:", "ECHO",
                      "fail_odd", "fail_odd:", "fail_odd:-1s", "fail_odd:inf",
                      "block", "block:", ":", "key_ms:1"));

}  // namespace
}  // namespace pieces
