#pragma once

// Structured logging over spdlog: every event is a message plus key/value fields,
// written as one text line ("msg key=value ...") or one JSON object per line.
// A Logger is created once per binary in main.cc and handed to whoever logs.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "spdlog/logger.h"

namespace cloak {

enum class LogFormat { kText, kJson };

// "text" or "json"; anything else is INVALID_ARGUMENT naming the accepted values.
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);
// "trace", "debug", "info", "warn", "error", "critical" or "off".
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

using LogFields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  // Logs through `sink_logger` (whose pattern this constructor sets) in `format`.
  Logger(std::shared_ptr<spdlog::logger> sink_logger, LogFormat format);

  // A logger writing to stderr; also installed as spdlog's default logger so that
  // low-level warnings (for example SecretBytes' mlock warning) use the same format.
  static std::shared_ptr<Logger> ToStderr(LogFormat format, spdlog::level::level_enum level);

  // Writes one event. Thread-safe. Values are written verbatim (escaped for the
  // format): callers must never pass secrets; request logging strips them first.
  void Log(spdlog::level::level_enum level, std::string_view message, const LogFields& fields = {});
  void Debug(std::string_view message, const LogFields& fields = {}) {
    Log(spdlog::level::debug, message, fields);
  }
  void Info(std::string_view message, const LogFields& fields = {}) {
    Log(spdlog::level::info, message, fields);
  }
  void Warn(std::string_view message, const LogFields& fields = {}) {
    Log(spdlog::level::warn, message, fields);
  }
  void Error(std::string_view message, const LogFields& fields = {}) {
    Log(spdlog::level::err, message, fields);
  }

  // True when events at `level` are written.
  bool Enabled(spdlog::level::level_enum level) const { return sink_logger_->should_log(level); }
  LogFormat format() const { return format_; }

 private:
  std::shared_ptr<spdlog::logger> sink_logger_;
  LogFormat format_;
};

}  // namespace cloak
