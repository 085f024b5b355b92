#include "client/keys.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pieces::client {
namespace {

// A key: decimal digits only (SimpleAtoi alone would take "+5" and " 5").
bool ParseKey(absl::string_view text, uint64_t* key) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, key);
}

absl::Status TooMany() {
  return absl::InvalidArgumentError(
      absl::StrCat("more than ", kMaxKeys, " keys in one run"));
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ostringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
    return contents.str();
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat(
        "@", path, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  contents << file.rdbuf();
  if (file.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("@", path, ": error while reading ", path));
  }
  return contents.str();
}

}  // namespace

absl::Status AppendKeys(absl::string_view word, std::vector<uint64_t>* keys) {
  uint64_t first = 0;
  uint64_t last = 0;
  const size_t dash = word.find('-');
  if (dash == absl::string_view::npos) {
    if (!ParseKey(word, &first)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", word,
          "' is not a key: expected a whole number from 0 to "
          "18446744073709551615, a range such as 1-100, or @FILE"));
    }
    if (keys->size() >= kMaxKeys) return TooMany();
    keys->push_back(first);
    return absl::OkStatus();
  }
  if (!ParseKey(word.substr(0, dash), &first) ||
      !ParseKey(word.substr(dash + 1), &last)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", word,
                     "' is not a range: expected FIRST-LAST, two whole "
                     "numbers such as 1-100"));
  }
  if (first > last) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", word, "' is an empty range: ", first, " is above ", last));
  }
  if (last - first >= kMaxKeys - keys->size()) return TooMany();
  for (uint64_t key = first;; ++key) {
    keys->push_back(key);
    if (key == last) break;  // last may be the largest uint64.
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> ParseKeys(
    const std::vector<std::string>& args) {
  std::vector<uint64_t> keys;
  for (const std::string& arg : args) {
    if (arg.empty() || arg[0] != '@') {
      if (absl::Status status = AppendKeys(arg, &keys); !status.ok()) {
        return status;
      }
      continue;
    }
    const std::string path = arg.substr(1);
    if (path.empty()) {
      return absl::InvalidArgumentError(
          "'@' names no file: expected @FILE, or @- for standard input");
    }
    absl::StatusOr<std::string> contents = ReadAll(path);
    if (!contents.ok()) return contents.status();
    for (absl::string_view word : absl::StrSplit(
             *contents, absl::ByAnyChar(" \t\r\n\v\f"), absl::SkipEmpty())) {
      if (absl::Status status = AppendKeys(word, &keys); !status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(arg, ": ", status.message()));
      }
    }
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        "no keys: give at least one, e.g. pieces run 1-100");
  }
  return keys;
}

}  // namespace pieces::client
