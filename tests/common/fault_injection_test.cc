#include "common/fault_injection.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "gtest/gtest.h"

namespace cloak {
namespace {

TEST(FaultPointsTest, ParsesKillAndDelay) {
  const auto points = FaultPoints::Parse("a.b=kill,c=delay:20");
  ASSERT_TRUE(points.ok()) << points.status();
  const auto start = std::chrono::steady_clock::now();
  points->Hit("c");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
  points->Hit("not-configured");  // No effect.
}

TEST(FaultPointsTest, RejectsMalformedEntries) {
  for (const char* spec : {"noaction", "=kill", "a=explode", "a=delay:", "a=delay:-1",
                           "a=delay:10x", "a=delay:999999999"}) {
    const auto points = FaultPoints::Parse(spec);
    EXPECT_EQ(points.status().code(), absl::StatusCode::kInvalidArgument) << spec;
  }
  EXPECT_TRUE(FaultPoints::Parse("").ok());
  EXPECT_TRUE(FaultPoints::Parse("").value().empty());
}

TEST(FaultPointsTest, KillTerminatesTheProcessWithSigkill) {
  const auto points = FaultPoints::Parse("step=kill");
  ASSERT_TRUE(points.ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    points->Hit("step");
    _exit(0);  // Reached only if the kill did not happen.
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

}  // namespace
}  // namespace cloak
