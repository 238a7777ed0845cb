#include "common/logging.h"

#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"

namespace cloak {
namespace {

std::shared_ptr<Logger> CapturingLogger(std::ostringstream& out, LogFormat format) {
  auto sink_logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  sink_logger->set_level(spdlog::level::debug);
  return std::make_shared<Logger>(sink_logger, format);
}

TEST(LoggingTest, JsonLinesAreParseableObjects) {
  std::ostringstream out;
  auto logger = CapturingLogger(out, LogFormat::kJson);
  logger->Info("volume staged", {{"volume_id", "vol-1"}, {"note", "quote \" and\nnewline"}});
  logger->Warn("second");
  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  const auto event = nlohmann::json::parse(line);
  EXPECT_EQ(event["msg"], "volume staged");
  EXPECT_EQ(event["level"], "info");
  EXPECT_EQ(event["volume_id"], "vol-1");
  EXPECT_EQ(event["note"], "quote \" and\nnewline");
  EXPECT_TRUE(event["ts"].get<std::string>().ends_with("Z"));
  std::getline(lines, line);
  EXPECT_EQ(nlohmann::json::parse(line)["level"], "warning");
}

TEST(LoggingTest, TextQuotesValuesThatNeedIt) {
  std::ostringstream out;
  auto logger = CapturingLogger(out, LogFormat::kText);
  logger->Info("call", {{"method", "/csi.v1.Node/NodeStageVolume"}, {"error", "two words"}});
  const std::string text = out.str();
  EXPECT_NE(text.find("call method=/csi.v1.Node/NodeStageVolume error=\"two words\""),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "one event, one line";
}

TEST(LoggingTest, LevelFiltersEvents) {
  std::ostringstream out;
  auto logger = CapturingLogger(out, LogFormat::kText);
  logger->Log(spdlog::level::trace, "hidden");
  EXPECT_TRUE(out.str().empty());
  EXPECT_FALSE(logger->Enabled(spdlog::level::trace));
  EXPECT_TRUE(logger->Enabled(spdlog::level::debug));
}

TEST(LoggingTest, ParsesFormatsAndLevels) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_EQ(ParseLogLevel("loud").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloak
