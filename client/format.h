// Small text helpers shared by the pieces client's outputs. The functions
// keep no state and may be called from any thread.
#ifndef PIECES_CLIENT_FORMAT_H_
#define PIECES_CLIENT_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pieces::client {

// The name of a gRPC status code (google.rpc.Code numbering), e.g.
// "UNAVAILABLE" for 14; "CODE_99" for a number that names none.
std::string StatusCodeName(int code);

// `text` as a JSON string literal, quotes included.
std::string JsonString(absl::string_view text);

// A duration for people, rounded to what matters: "0.42s", "12.3s",
// "4m05s", "2h03m".
std::string ShortDuration(absl::Duration duration);

// A rate such as 1234.5 per second for people: "1234/s", "12.5/s",
// "0.25/s", "0/s".
std::string PerSecond(double rate);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_FORMAT_H_
