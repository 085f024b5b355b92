// The services' event log: one line on stderr per event an operator cares
// about (start-up with the effective flags, listening, a session or call
// ending, a replica going down or coming back, drain start and end), never
// one per unit of work.
//
// Two formats, chosen once at start-up (--log_format):
//   text  the line as given (what the programs have always printed; tests
//         and scripts read some of them, e.g. "listening on 0.0.0.0:PORT");
//   json  one JSON object per line, with the fixed keys
//           ts       UTC time, RFC 3339 with milliseconds
//           level    "info" or "warning"
//           program  "work_service" or "main_service"
//           event    what happened (see README.md, Logs)
//           message  the text line
//         and then the event's own fields, each a string, number or bool.
//
// Example:
//   LogEvent("call_end", absl::StrCat("main_service: Run from ", peer, ...),
//            {{"peer", peer}, {"keys", keys}, {"code", "OK"}});
//
// Thread safety: InitEventLog once, before any other thread logs; LogEvent
// from any thread (spdlog's sink serializes the lines, each written whole).
#ifndef PIECES_COMMON_LOGGING_EVENT_LOG_H_
#define PIECES_COMMON_LOGGING_EVENT_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pieces {

enum class LogFormat { kText, kJson };

// Sets the program's name and the format: "text" or "json" (else
// INVALID_ARGUMENT, and the format stays text).
absl::Status InitEventLog(absl::string_view program, absl::string_view format);

// One field of an event: its key and value.
struct LogField {
  LogField(absl::string_view k, absl::string_view v)
      : key(k), value(std::string(v)) {}
  LogField(absl::string_view k, const char* v)
      : key(k), value(std::string(v)) {}
  LogField(absl::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(absl::string_view k, bool v) : key(k), value(v) {}
  LogField(absl::string_view k, int v) : key(k), value(int64_t{v}) {}
  LogField(absl::string_view k, int64_t v) : key(k), value(v) {}
  LogField(absl::string_view k, uint64_t v) : key(k), value(v) {}
  LogField(absl::string_view k, double v) : key(k), value(v) {}

  std::string key;
  std::variant<std::string, bool, int64_t, uint64_t, double> value;
};

enum class LogLevel { kInfo, kWarning };

// Appends `s` to `out` as a JSON string: quoted, with ", \ and control
// characters escaped (bytes above 0x7f are copied as they are).
void AppendJsonString(std::string& out, absl::string_view s);

// Logs `event`: `text` as the text line, or in JSON with `fields`.
void LogEvent(absl::string_view event, absl::string_view text,
              std::initializer_list<LogField> fields = {},
              LogLevel level = LogLevel::kInfo);

// The JSON line LogEvent writes (without the newline), for tests.
std::string EventJson(absl::string_view program, absl::string_view event,
                      absl::string_view text,
                      std::initializer_list<LogField> fields, LogLevel level);

}  // namespace pieces

#endif  // PIECES_COMMON_LOGGING_EVENT_LOG_H_
