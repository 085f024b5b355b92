#include "tests/testing/gate.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace pieces::testing {
namespace {

std::string FreshPath() {
  static std::atomic<int> counter{0};
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/pieces-gate-", getpid(),
                      "-", counter++);
}

}  // namespace

Gate::Gate() : path_(FreshPath()) { std::remove(path_.c_str()); }

Gate::~Gate() { Open(); }

void Gate::Open() {
  if (FILE* file = std::fopen(path_.c_str(), "w")) std::fclose(file);
}

}  // namespace pieces::testing
