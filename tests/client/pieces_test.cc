// The pieces program as a person uses it in a pipe or a script: against a
// real work_service and main_service, its output read from pipes (no
// terminal, so no progress line), its exit code checked. Its terminal
// behaviour (progress line, watch) is tmux_test.sh's.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/test_process.h"

namespace pieces {
namespace {

using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartTestProcess;
using ::pieces::testing::StartWorkServiceOrFail;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `pieces args...`, stdout to a file and stderr to a pipe, and waits
// for it to exit.
Outcome RunPieces(const std::vector<std::string>& args) {
  static int runs = 0;
  // The pid too: ctest runs the tests of this file in processes of their own,
  // at the same time.
  const std::string out_path =
      absl::StrCat(::testing::TempDir(), "/pieces_out_", getpid(), "_", ++runs);
  std::vector<std::string> sh_args = {"-c",
                                      "out=$1; shift; exec \"$@\" >\"$out\"",
                                      "sh", out_path, PIECES_CLIENT_BIN};
  sh_args.insert(sh_args.end(), args.begin(), args.end());
  Outcome outcome;
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      StartTestProcess("/bin/sh", sh_args);
  if (!process.ok()) {
    ADD_FAILURE() << process.status();
    return outcome;
  }
  absl::StatusOr<int> exit_code = (*process)->AwaitExit(absl::Seconds(60));
  if (!exit_code.ok()) {
    ADD_FAILURE() << "pieces did not exit: " << exit_code.status();
    return outcome;
  }
  outcome.exit_code = *exit_code;
  outcome.err = (*process)->output();
  std::ifstream file(out_path);
  std::ostringstream contents;
  contents << file.rdbuf();
  outcome.out = contents.str();
  std::remove(out_path.c_str());
  return outcome;
}

// A work_service (with `work` as its --work) and a main_service in front.
struct Pair {
  ServiceProcess work;
  ServiceProcess main;
  std::string address;  // --address=... for pieces
};

Pair StartPair(const std::string& work) {
  Pair pair;
  pair.work = StartWorkServiceOrFail({"--work=" + work, "--threads=4"});
  pair.main = StartMainServiceOrFail({"--work_address=" + pair.work.address});
  pair.address = "--address=" + pair.main.address;
  return pair;
}

TEST(PiecesTest, RunInAPipeSummarizesWithoutAProgressLineThenHitsTheCache) {
  Pair pair = StartPair("echo");
  Outcome first = RunPieces({"run", "1-1000", pair.address});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out,
              ContainsRegex("^1000 results in [0-9.]+s \\([0-9.]+/s\\): "
                            "1000 new, 0 cached, 0 waited, 0 "
                            "failed\n$"));
  // No progress line, no terminal control: not a terminal.
  EXPECT_THAT(first.out + first.err, Not(HasSubstr("\r")));
  EXPECT_THAT(first.out + first.err, Not(HasSubstr("\033")));

  Outcome second = RunPieces({"run", "1-1000", pair.address});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out,
              HasSubstr("): 0 new, 1000 cached, 0 waited, 0 failed\n"));
}

TEST(PiecesTest, JsonPrintsOneParsableLinePerResultWithTheRightValue) {
  Pair pair = StartPair("echo");
  Outcome run = RunPieces({"run", "--json", "1-1000", pair.address});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // The summary goes to stderr: stdout is the results only.
  EXPECT_THAT(run.err, HasSubstr("1000 new, 0 cached, 0 waited, 0 failed"));

  std::vector<std::string> lines =
      absl::StrSplit(run.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1000u) << run.out.substr(0, 500);
  std::set<uint64_t> ids;
  std::set<uint64_t> keys;
  // Each line is JSON (protobuf's parser accepts it), in the documented
  // shape. The fields are read with a pattern, not through the parsed
  // Struct: protobuf's Map, inlined into a ThreadSanitizer build, does not
  // agree with Debian's uninstrumented libprotobuf on its layout.
  const std::regex shape(
      R"(\{"id":(\d+),"key":(\d+),"value":(\d+),"performed":"new",)"
      R"("waited":false,"error":null\})");
  for (const std::string& line : lines) {
    google::protobuf::Struct object;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok())
        << line;
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, shape)) << line;
    const uint64_t id = std::stoull(match[1]);
    const uint64_t key = std::stoull(match[2]);
    ids.insert(id);
    keys.insert(key);
    // Ids number the keys in request order: key id+1 of 1-1000.
    EXPECT_EQ(key, id + 1) << line;
    // The default work function, echo: the value is the key.
    EXPECT_EQ(std::stoull(match[3]), key) << line;
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(keys.size(), 1000u);
  EXPECT_EQ(*keys.begin(), 1u);
  EXPECT_EQ(*keys.rbegin(), 1000u);
}

TEST(PiecesTest, StatsShowsTheReplicaAndTheTotals) {
  Pair pair = StartPair("echo");
  ASSERT_EQ(RunPieces({"run", "1-1000", pair.address}).exit_code, 0);
  ASSERT_EQ(RunPieces({"run", "1-1000", pair.address}).exit_code, 0);
  Outcome stats = RunPieces({"stats", pair.address});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, ContainsRegex("^address +routable +sessions +computed "
                                       "+from_cache +waited +failed "
                                       "+cache_entries +error\n"));
  const std::string port = absl::StrCat(":", pair.work.port, " ");
  // One session open: main_service's, shared by every call.
  EXPECT_THAT(stats.out,
              ContainsRegex(absl::StrCat("\n[0-9.]+", port,
                                         " +yes +1 +1000 +1000 +0 +0 "
                                         "+1000\n")));
  EXPECT_THAT(stats.out, ContainsRegex("\ntotal +1 +1000 +1000 +0 +0 +1000\n"));
  EXPECT_THAT(stats.out, HasSubstr("\nreplicas answered: 1 of 1\n"));
  EXPECT_THAT(stats.out, HasSubstr("\nhit ratio: 50.0% (from_cache / "
                                   "(computed + from_cache))\n"));
  EXPECT_THAT(stats.out, HasSubstr("\nunits resent: 0\n"));
}

TEST(PiecesTest, SomeFailedResultsExitOneAndShowTheFirstErrors) {
  Pair pair = StartPair("fail_odd:0s");
  Outcome run = RunPieces({"run", "1-10", pair.address});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.out, HasSubstr("): 5 new, 0 cached, 0 waited, 5 failed\n"
                                 "first 5 of 5 errors:\n"));
  EXPECT_THAT(run.out, HasSubstr("  key 1  INTERNAL: work for key 1 failed"));
  EXPECT_THAT(run.out, HasSubstr("  key 9  INTERNAL: work for key 9 failed"));

  Outcome json = RunPieces({"run", "--json", "3", pair.address});
  EXPECT_EQ(json.exit_code, 1) << json.err;
  EXPECT_THAT(json.out, HasSubstr(R"("performed":null,"waited":false,)"
                                  R"("error":{"code":"INTERNAL","message":)"
                                  R"("work for key 3 failed)"));
}

TEST(PiecesTest, BadUsageExitsTwoNamingTheBadArgument) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  // No service: usage is checked before any call.
  const std::vector<Case> cases = {
      {{"run", "1-10", "x"}, "pieces: 'x' is not a key"},
      {{"run", "10-1"}, "pieces: '10-1' is an empty range"},
      {{"run"}, "pieces: no keys"},
      {{"run", "@/nonexistent/keys"}, "@/nonexistent/keys: cannot read"},
      {{}, "give a command: run, stats or watch"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"stats", "1"}, "stats takes no arguments"},
      {{"run", "1", "--adress=localhost:1"}, "unknown flag --adress"},
      {{"run", "1", "--deadline=soon"}, "flag --deadline: 'soon'"},
      {{"run", "1", "--json", "--print"}, "exclude each other"},
      {{"run", "1", "--tls_cert=c.pem"}, "--tls_cert needs --tls_key"},
      {{"run", "1", "--tls_ca=/nonexistent/ca.pem"}, "--tls_ca: cannot read"},
  };
  for (const Case& c : cases) {
    Outcome run = RunPieces(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.message << "\n" << run.err;
    EXPECT_THAT(run.err, HasSubstr(c.message));
    EXPECT_EQ(run.out, "");
  }
}

TEST(PiecesTest, UnreachableMainServiceExitsThreeWithUnavailable) {
  // Nothing listens on port 1.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "1-10", "--address=localhost:1"},
        std::vector<std::string>{"stats", "--address=localhost:1"}}) {
    Outcome run = RunPieces(args);
    EXPECT_EQ(run.exit_code, 3) << run.err;
    EXPECT_THAT(run.err, ContainsRegex("pieces: (RunStream|GetClusterStats) to "
                                       "localhost:1 failed: UNAVAILABLE: "));
    // No result came: no summary.
    EXPECT_THAT(run.err, Not(HasSubstr("results in")));
    EXPECT_EQ(run.out, "");
  }
}

TEST(PiecesTest, APassedDeadlineExitsThreeAfterTheResultsSoFar) {
  Pair pair = StartPair("sleep:50ms");
  Outcome run = RunPieces({"run", "1-200", "--deadline=300ms", pair.address});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_THAT(run.err, ContainsRegex("[0-9]+ of 200 results in "));
  EXPECT_THAT(run.err, HasSubstr("failed: DEADLINE_EXCEEDED: "));
}

}  // namespace
}  // namespace pieces
