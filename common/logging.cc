#include "common/logging.h"

#include <chrono>
#include <ctime>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace cloak {
namespace {

// The current UTC time as RFC 3339 with microseconds, e.g. 2026-01-02T03:04:05.123456Z.
std::string Rfc3339Now() {
  const auto now = std::chrono::system_clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     micros % 1000000);
}

bool NeedsQuoting(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

std::string TextLine(std::string_view message, const LogFields& fields) {
  std::string line(message);
  for (const auto& [key, value] : fields) {
    line += " ";
    line += key;
    line += "=";
    // JSON string escaping doubles as a safe quoting for text logs.
    line += NeedsQuoting(value) ? nlohmann::json(value).dump(
                                      -1, ' ', false, nlohmann::json::error_handler_t::replace)
                                : value;
  }
  return line;
}

std::string JsonLine(spdlog::level::level_enum level, std::string_view message,
                     const LogFields& fields) {
  nlohmann::ordered_json event;
  event["ts"] = Rfc3339Now();
  const auto level_name = spdlog::level::to_string_view(level);
  event["level"] = std::string(level_name.data(), level_name.size());
  event["msg"] = message;
  for (const auto& [key, value] : fields) event[key] = value;
  return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      fmt::format("log format \"{}\" is not supported; use \"text\" or \"json\"", name));
}

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  };
  for (const auto& [level_name, level] : kLevels) {
    if (name == level_name) return level;
  }
  return absl::InvalidArgumentError(fmt::format(
      "log level \"{}\" is not supported; use trace, debug, info, warn, error, critical or off",
      name));
}

Logger::Logger(std::shared_ptr<spdlog::logger> sink_logger, LogFormat format)
    : sink_logger_(std::move(sink_logger)), format_(format) {
  sink_logger_->set_pattern(format_ == LogFormat::kJson ? "%v" : "%Y-%m-%dT%H:%M:%S.%f%z %l %v");
}

std::shared_ptr<Logger> Logger::ToStderr(LogFormat format, spdlog::level::level_enum level) {
  auto sink_logger =
      std::make_shared<spdlog::logger>("cloak", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  sink_logger->set_level(level);
  sink_logger->flush_on(spdlog::level::trace);
  auto logger = std::make_shared<Logger>(sink_logger, format);
  if (format == LogFormat::kJson) {
    // Plain spdlog calls elsewhere still produce one JSON object per line.
    auto fallback = std::make_shared<spdlog::logger>(
        "cloak-default", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    fallback->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","msg":"%v"})");
    fallback->set_level(level);
    spdlog::set_default_logger(fallback);
  } else {
    spdlog::set_default_logger(sink_logger);
  }
  return logger;
}

void Logger::Log(spdlog::level::level_enum level, std::string_view message,
                 const LogFields& fields) {
  if (!sink_logger_->should_log(level)) return;
  const std::string line =
      format_ == LogFormat::kJson ? JsonLine(level, message, fields) : TextLine(message, fields);
  sink_logger_->log(level, "{}", line);
}

}  // namespace cloak
