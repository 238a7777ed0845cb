#include "node/run_tool.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cloak::node {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

ToolResult RunOk(const std::string& program, const std::vector<std::string>& args) {
  absl::StatusOr<ToolResult> result = RunTool(program, args);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.value_or(ToolResult{});
}

TEST(RunToolTest, GivesOnlyAMinimalEnvironment) {
  ASSERT_EQ(setenv("CLOAK_RUN_TOOL_TEST_SECRET", "leaked", 1), 0);
  const ToolResult result = RunOk("/usr/bin/env", {});
  EXPECT_EQ(result.exit_status, 0);
  EXPECT_EQ(result.output, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
}

TEST(RunToolTest, PassesArgumentsVerbatimWithoutAShell) {
  const ToolResult result = RunOk("/usr/bin/ls", {"-d", "/proc/self", "$HOME", "a b;true"});
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_THAT(result.output, HasSubstr("/proc/self\n"));
  EXPECT_THAT(result.output, HasSubstr("cannot access '$HOME': No such file or directory"));
  EXPECT_THAT(result.output, HasSubstr("cannot access 'a b;true': No such file or directory"));
}

TEST(RunToolTest, StdinIsDevNullAndNoOtherDescriptorIsInherited) {
  const std::string leaked = ::testing::TempDir() + "/run_tool_leak";
  const int fd = open(leaked.c_str(), O_CREAT | O_WRONLY, 0600);  // no O_CLOEXEC, on purpose
  ASSERT_GE(fd, 0);
  const ToolResult result = RunOk("/usr/bin/ls", {"-l", "/proc/self/fd/"});
  close(fd);
  unlink(leaked.c_str());
  EXPECT_EQ(result.exit_status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr(" 0 -> /dev/null"));
  EXPECT_THAT(result.output, HasSubstr(" 1 -> pipe:"));
  EXPECT_THAT(result.output, HasSubstr(" 2 -> pipe:"));
  EXPECT_THAT(result.output, Not(HasSubstr("run_tool_leak")));
  // ls's own descriptor for /proc/self/fd is the only one past stderr.
  EXPECT_THAT(result.output, Not(HasSubstr(" 4 -> ")));
}

TEST(RunToolTest, ResetsIgnoredAndBlockedSignals) {
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &previous), 0);
  sigset_t term;
  sigset_t old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
  const ToolResult result = RunOk("/usr/bin/grep", {"-E", "^Sig(Blk|Ign)", "/proc/self/status"});
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGPIPE, &previous, nullptr);
  EXPECT_EQ(result.exit_status, 0);
  ASSERT_THAT(result.output, StartsWith("SigBlk:\t0000000000000000\nSigIgn:\t")) << result.output;
  // Signals 1-31 are back to their defaults; glibc's own real-time signals (32, 33) are
  // out of posix_spawn's reach and harmless to a single-threaded tool.
  const std::uint64_t ignored =
      std::stoull(result.output.substr(result.output.rfind('\t') + 1), nullptr, 16);
  EXPECT_EQ(ignored & ((1ULL << 31) - 1), 0u) << result.output;
}

TEST(RunToolTest, ReportsTheExitStatusAndStderr) {
  const ToolResult failed = RunOk("/usr/bin/false", {});
  EXPECT_EQ(failed.exit_status, 1);
  EXPECT_EQ(failed.signal, 0);
  const ToolResult missing = RunOk("/usr/bin/cat", {"/nonexistent/cloak"});
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_EQ(missing.output, "/usr/bin/cat: /nonexistent/cloak: No such file or directory\n");
}

TEST(RunToolTest, KeepsTheLastTwoKibibytesFromALineStart) {
  const ToolResult result = RunOk("/usr/bin/seq", {"1", "100000"});
  EXPECT_EQ(result.exit_status, 0);
  EXPECT_LE(result.output.size(), 2048u);
  EXPECT_GT(result.output.size(), 1800u);
  EXPECT_THAT(result.output, EndsWith("\n99999\n100000\n"));
  // Whole lines, counting up to the end.
  std::istringstream lines(result.output);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  int expected = std::stoi(line);
  EXPECT_GT(expected, 99000);
  while (std::getline(lines, line)) EXPECT_EQ(std::stoi(line), ++expected);
  EXPECT_EQ(expected, 100000);
}

TEST(RunToolTest, AMissingProgramIsNotFound) {
  absl::StatusOr<ToolResult> result = RunTool("/nonexistent/mkfs.ext4", {"/dev/null"});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("/nonexistent/mkfs.ext4 /dev/null"));
}

}  // namespace
}  // namespace cloak::node
