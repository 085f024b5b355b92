#include "common/logging/event_log.h"

#include <cmath>
#include <memory>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace pieces {
namespace {

// Set once by InitEventLog, before other threads log.
struct EventLog {
  std::string program = "pieces";
  LogFormat format = LogFormat::kText;
  std::shared_ptr<spdlog::logger> logger;
};

EventLog& Log() {
  static EventLog* const log = [] {
    auto* l = new EventLog;
    // The line is made here; spdlog writes it whole, with no decoration.
    l->logger = std::make_shared<spdlog::logger>(
        "pieces", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->logger->set_pattern("%v");
    l->logger->flush_on(spdlog::level::info);
    return l;
  }();
  return *log;
}

void AppendJsonValue(std::string& out, const LogField& field) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          AppendJsonString(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          if (std::isfinite(v)) {
            absl::StrAppendFormat(&out, "%.6g", v);
          } else {
            out += "null";
          }
        } else {
          absl::StrAppend(&out, v);
        }
      },
      field.value);
}

}  // namespace

void AppendJsonString(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

absl::Status InitEventLog(absl::string_view program, absl::string_view format) {
  EventLog& log = Log();
  log.program = std::string(program);
  if (format == "text") {
    log.format = LogFormat::kText;
  } else if (format == "json") {
    log.format = LogFormat::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format=", format, " is neither 'text' nor 'json'"));
  }
  return absl::OkStatus();
}

std::string EventJson(absl::string_view program, absl::string_view event,
                      absl::string_view text,
                      std::initializer_list<LogField> fields, LogLevel level) {
  std::string out = "{\"ts\":";
  AppendJsonString(out, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                         absl::UTCTimeZone()));
  out += ",\"level\":";
  AppendJsonString(out, level == LogLevel::kWarning ? "warning" : "info");
  out += ",\"program\":";
  AppendJsonString(out, program);
  out += ",\"event\":";
  AppendJsonString(out, event);
  out += ",\"message\":";
  AppendJsonString(out, text);
  for (const LogField& field : fields) {
    out.push_back(',');
    AppendJsonString(out, field.key);
    out.push_back(':');
    AppendJsonValue(out, field);
  }
  out.push_back('}');
  return out;
}

void LogEvent(absl::string_view event, absl::string_view text,
              std::initializer_list<LogField> fields, LogLevel level) {
  EventLog& log = Log();
  const auto spd_level =
      level == LogLevel::kWarning ? spdlog::level::warn : spdlog::level::info;
  if (log.format == LogFormat::kJson) {
    log.logger->log(spd_level, "{}",
                    EventJson(log.program, event, text, fields, level));
  } else {
    log.logger->log(spd_level, "{}", std::string(text));
  }
}

}  // namespace pieces
