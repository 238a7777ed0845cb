#pragma once

// Helpers shared by the csi tests: temporary directories and a log capture.

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include "common/logging.h"
#include "spdlog/sinks/ostream_sink.h"

namespace cloak::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/cloak-test-XXXXXX";
    path_ = mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A Logger whose output lands in a string.
class CapturedLog {
 public:
  explicit CapturedLog(LogFormat format = LogFormat::kJson) {
    auto sink = std::make_shared<spdlog::logger>(
        "captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_));
    sink->set_level(spdlog::level::debug);
    logger_ = std::make_shared<Logger>(sink, format);
  }
  std::shared_ptr<Logger> logger() const { return logger_; }
  std::string text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<Logger> logger_;
};

}  // namespace cloak::testing
