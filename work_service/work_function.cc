#include "work_service/work_function.h"

#include <unistd.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pieces {
namespace {

constexpr absl::string_view kAccepted =
    "expected one of: echo, sleep:DURATION (e.g. sleep:100ms), cpu:N (N a "
    "whole number of rounds), fail_odd:DURATION, block:PATH, key_ms";

class EchoWork final : public WorkFunction {
 public:
  absl::StatusOr<uint64_t> Compute(uint64_t key) const override { return key; }
  std::string Describe() const override { return "echo"; }
};

class SleepWork final : public WorkFunction {
 public:
  explicit SleepWork(absl::Duration duration) : duration_(duration) {}
  absl::StatusOr<uint64_t> Compute(uint64_t key) const override {
    absl::SleepFor(duration_);
    return key;
  }
  std::string Describe() const override {
    return absl::StrCat("sleep:", absl::FormatDuration(duration_));
  }

 private:
  const absl::Duration duration_;
};

class CpuWork final : public WorkFunction {
 public:
  explicit CpuWork(uint64_t rounds) : rounds_(rounds) {}
  absl::StatusOr<uint64_t> Compute(uint64_t key) const override {
    return MixRounds(key, rounds_);
  }
  std::string Describe() const override {
    return absl::StrCat("cpu:", rounds_);
  }

 private:
  const uint64_t rounds_;
};

class FailOddWork final : public WorkFunction {
 public:
  explicit FailOddWork(absl::Duration duration) : duration_(duration) {}
  absl::StatusOr<uint64_t> Compute(uint64_t key) const override {
    absl::SleepFor(duration_);
    if (key % 2 == 1) {
      return absl::InternalError(
          absl::StrCat("work for key ", key, " failed (fail_odd work)"));
    }
    return key;
  }
  std::string Describe() const override {
    return absl::StrCat("fail_odd:", absl::FormatDuration(duration_));
  }

 private:
  const absl::Duration duration_;
};

class BlockWork final : public WorkFunction {
 public:
  explicit BlockWork(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<uint64_t> Compute(uint64_t key) const override {
    // A poll, not inotify: the release is a test's signal, and 10 ms of
    // latency after it costs a test nothing.
    const absl::Time give_up = absl::Now() + kMaxBlock;
    if (access(path_.c_str(), F_OK) != 0) {
      // Tells a test that this unit runs now (it is not queued).
      absl::FPrintF(stderr, "block work: key %d waits for %s\n", key, path_);
    }
    while (access(path_.c_str(), F_OK) != 0) {
      if (absl::Now() > give_up) {
        return absl::DeadlineExceededError(
            absl::StrCat("block work: ", path_, " did not appear within ",
                         absl::FormatDuration(kMaxBlock)));
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return key;
  }
  std::string Describe() const override {
    return absl::StrCat("block:", path_);
  }

 private:
  static constexpr absl::Duration kMaxBlock = absl::Seconds(30);
  const std::string path_;
};

class KeyMsWork final : public WorkFunction {
 public:
  absl::StatusOr<uint64_t> Compute(uint64_t key) const override {
    absl::SleepFor(absl::Milliseconds(key % 10000));
    return key;
  }
  std::string Describe() const override { return "key_ms"; }
};

absl::StatusOr<absl::Duration> ParseNonNegativeDuration(
    absl::string_view spec, absl::string_view text) {
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration) ||
      duration < absl::ZeroDuration() || duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--work=", spec, ": '", text,
                     "' is not a finite, non-negative duration such as 100ms "
                     "or 1.5s"));
  }
  return duration;
}

}  // namespace

uint64_t MixRounds(uint64_t key, uint64_t rounds) {
  uint64_t x = key;
  for (uint64_t i = 0; i < rounds; ++i) {
    // splitmix64: an add of the golden-ratio constant, then a bijective mix.
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
  }
  return x;
}

absl::StatusOr<std::unique_ptr<WorkFunction>> MakeWorkFunction(
    absl::string_view spec) {
  if (spec == "echo") return std::make_unique<EchoWork>();
  if (spec == "key_ms") return std::make_unique<KeyMsWork>();

  const size_t colon = spec.find(':');
  const absl::string_view kind = spec.substr(0, colon);
  const absl::string_view arg =
      colon == absl::string_view::npos ? "" : spec.substr(colon + 1);
  if (colon != absl::string_view::npos) {
    if (kind == "sleep" || kind == "fail_odd") {
      absl::StatusOr<absl::Duration> duration =
          ParseNonNegativeDuration(spec, arg);
      if (!duration.ok()) return duration.status();
      if (kind == "sleep") return std::make_unique<SleepWork>(*duration);
      return std::make_unique<FailOddWork>(*duration);
    }
    if (kind == "block" && !arg.empty()) {
      return std::make_unique<BlockWork>(std::string(arg));
    }
    if (kind == "cpu") {
      uint64_t rounds = 0;
      if (!absl::SimpleAtoi(arg, &rounds)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--work=", spec, ": '", arg, "' is not a whole number of rounds"));
      }
      return std::make_unique<CpuWork>(rounds);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--work=", spec, " is not a known work function; ", kAccepted));
}

}  // namespace pieces
