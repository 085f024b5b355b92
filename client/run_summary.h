// What `pieces run` prints about results: the tally and summary at the end,
// and each result as a JSON line (--json) or a text line (--print).
//
//   RunTally tally;
//   for each result: tally.Add(result);
//   std::string text = FormatRunSummary(tally, keys.size(), wall_time);
//
// gives, for example,
//
//   1000 results in 0.53s (1887/s): 500 new, 0 cached, 0 waited, 500 failed
//   first 3 of 500 errors:
//     id 1  key 1  INTERNAL: work for key 1 failed (fail_odd work)
//     ...
//
// `waited` counts the cached results that waited for another unit computing
// the same key, so new + cached + failed is the number of results.
// A RunTally is not thread-safe; the functions keep no state.
#ifndef PIECES_CLIENT_RUN_SUMMARY_H_
#define PIECES_CLIENT_RUN_SUMMARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pieces/v1/work.pb.h"

namespace pieces::client {

struct RunTally {
  // How many failed results the summary shows.
  static constexpr size_t kShownErrors = 5;

  // Counts `result`; keeps it if it is one of the first kShownErrors errors.
  void Add(const v1::Result& result);

  uint64_t results = 0;
  uint64_t performed_new = 0;
  uint64_t from_cache = 0;
  uint64_t waited = 0;
  uint64_t failed = 0;
  // The first failed results, in the order they came.
  std::vector<v1::Result> first_errors;
};

// The summary (see above), ending with a newline. `keys` is how many keys
// were asked for: fewer results than that ("812 of 1000 results") means the
// call ended early.
std::string FormatRunSummary(const RunTally& tally, uint64_t keys,
                             absl::Duration wall_time);

// One result as a line of JSON, without the newline:
//   {"id":0,"key":7,"value":7,"performed":"new","waited":false,"error":null}
// performed is "new", "from_cache", or null for a failed result, whose error
// is {"code":"INTERNAL","message":"..."}. Numbers are JSON numbers (uint64:
// readers that hold numbers as doubles lose precision above 2^53).
std::string ResultJson(const v1::Result& result);

// One result as a line of text for --print, without the newline:
//   id 0  key 7  value 7  new
//   id 2  key 7  value 7  from_cache waited
//   id 3  key 9  error INTERNAL: ...
std::string ResultText(const v1::Result& result);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_RUN_SUMMARY_H_
