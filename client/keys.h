// The keys of `pieces run`, from its command-line arguments.
//
// Each argument is one of
//   42          a key (a decimal uint64)
//   1-100000    the keys from 1 to 100000, both included, in order
//   @FILE       the keys in FILE: numbers and ranges as above, separated by
//               whitespace (spaces, tabs, newlines); @- reads standard input
// Keys keep the order they are given in, repeats included (the service
// answers repeats from its cache).
//
//   absl::StatusOr<std::vector<uint64_t>> keys = ParseKeys({"1-3", "7"});
//   // *keys == {1, 2, 3, 7}
//
// A bad argument is INVALID_ARGUMENT, and the message names it (and, inside a
// file, the file and the word). The functions keep no state and may be called
// from any thread.
#ifndef PIECES_CLIENT_KEYS_H_
#define PIECES_CLIENT_KEYS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pieces::client {

// The most keys one `pieces run` takes, so that a mistyped range such as
// 1-99999999999 fails at once instead of filling memory. main_service takes
// at most its --max_keys (100000 by default) per call in any case.
inline constexpr uint64_t kMaxKeys = 10'000'000;

// The keys named by `args`, in order (see above).
absl::StatusOr<std::vector<uint64_t>> ParseKeys(
    const std::vector<std::string>& args);

// Appends the keys of one number or range (no @FILE) to `keys`.
absl::Status AppendKeys(absl::string_view word, std::vector<uint64_t>* keys);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_KEYS_H_
