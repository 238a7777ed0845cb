// Progress of `kek rotate --wait`: one redrawn line on a terminal, sparse plain lines
// elsewhere, and the command's exit codes over a scripted rotation.

#include "cli/rotation_progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "cli/exit_codes.h"
#include "cli/kek_command.h"
#include "tests/cli/fake_admin_client.h"

namespace cloak::cli {
namespace {

using testing::FakeAdminClient;
using ::testing::HasSubstr;
using ::testing::Not;

v1::RotationStatus Status(v1::RotationStatus::State state, std::int64_t done,
                          std::int64_t total = 300, std::int64_t updated_ms = 0) {
  v1::RotationStatus status;
  status.set_state(state);
  status.set_target_kek_version(2);
  status.set_done(done);
  status.set_total(total);
  status.set_updated_at_unix_ms(updated_ms == 0 ? 1000 + done : updated_ms);
  if (state == v1::RotationStatus::STATE_COMPLETED) status.add_retired_kek_versions(1);
  return status;
}

constexpr auto kRunning = v1::RotationStatus::STATE_RUNNING;
constexpr auto kCompleted = v1::RotationStatus::STATE_COMPLETED;
constexpr auto kFailed = v1::RotationStatus::STATE_FAILED;

// A clock that only moves when the command sleeps.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  WaitClock Get() {
    return WaitClock{.now = [this] { return now; },
                     .sleep = [this](absl::Duration d) { now += d; }};
  }
};

TEST(RotationProgressTest, BarLine) {
  EXPECT_EQ(ProgressBarLine(Status(kRunning, 150), 10),
            "[#####-----]  50%  150/300 volumes rewrapped to KEK version 2");
  EXPECT_EQ(ProgressBarLine(Status(kRunning, 0, 0), 4),
            "[----]   0%  0/0 volumes rewrapped to KEK version 2");
  EXPECT_EQ(ProgressBarLine(Status(kCompleted, 300), 4),
            "[####] 100%  300/300 volumes rewrapped to KEK version 2");
}

TEST(RotationProgressTest, TerminalRedrawsOneLine) {
  std::ostringstream out;
  ProgressDisplay display(out, /*terminal=*/true, absl::Seconds(5));
  const absl::Time t = absl::FromUnixSeconds(0);
  display.Update(Status(kRunning, 30), t);
  display.Update(Status(kRunning, 60), t + absl::Milliseconds(500));
  display.Finish(Status(kCompleted, 300));
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_THAT(text, HasSubstr("\r[#####"));
  EXPECT_THAT(text, HasSubstr("300/300 volumes rewrapped"));
}

TEST(RotationProgressTest, PlainPrintsAtMostOneLinePerInterval) {
  std::ostringstream out;
  ProgressDisplay display(out, /*terminal=*/false, absl::Seconds(5));
  const absl::Time t = absl::FromUnixSeconds(0);
  display.Update(Status(kRunning, 10), t);                      // first: printed
  display.Update(Status(kRunning, 20), t + absl::Seconds(1));   // too soon
  display.Update(Status(kRunning, 30), t + absl::Seconds(4));   // too soon
  display.Update(Status(kRunning, 40), t + absl::Seconds(5));   // due
  display.Update(Status(kRunning, 40), t + absl::Seconds(11));  // unchanged: skipped
  display.Finish(Status(kCompleted, 300));
  EXPECT_EQ(out.str(),
            "KEK rotation to version 2: running, 10/300 volumes rewrapped (3%)\n"
            "KEK rotation to version 2: running, 40/300 volumes rewrapped (13%)\n"
            "KEK rotation to version 2: completed, 300/300 volumes rewrapped (100%)\n");
  EXPECT_THAT(out.str(), Not(HasSubstr("\r")));
}

TEST(KekRotateTest, WithoutWaitReportsTheStart) {
  FakeAdminClient client;
  client.rotation = {Status(kRunning, 0)};
  FakeClock clock;
  std::ostringstream out, err;
  EXPECT_EQ(RunKekRotate(client, {}, clock.Get(),
                         {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitOk);
  EXPECT_EQ(out.str(),
            "KEK rotation to version 2 started: 0/300 volumes rewrapped so far; follow it with "
            "`cloakctl kek status`\n");
  EXPECT_EQ(client.calls, 1);
}

TEST(KekRotateTest, WaitFollowsToCompletionInPlainLines) {
  FakeAdminClient client;
  client.rotation = {Status(kRunning, 0), Status(kRunning, 100), Status(kRunning, 200),
                     Status(kCompleted, 300)};
  FakeClock clock;
  std::ostringstream out, err;
  KekRotateArgs args{.wait = true, .poll_interval = absl::Seconds(3)};
  EXPECT_EQ(RunKekRotate(client, args, clock.Get(),
                         {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitOk)
      << err.str();
  EXPECT_EQ(out.str(),
            "KEK rotation to version 2: running, 0/300 volumes rewrapped (0%)\n"
            "KEK rotation to version 2: running, 200/300 volumes rewrapped (66%)\n"
            "KEK rotation to version 2: completed, 300/300 volumes rewrapped (100%)\n"
            "KEK rotation to version 2 completed: 300/300 volumes rewrapped; retired KEK "
            "versions: 1\n");
  EXPECT_EQ(err.str(), "");
}

TEST(KekRotateTest, WaitWithJsonPutsProgressOnStderrAndOneDocumentOnStdout) {
  FakeAdminClient client;
  client.rotation = {Status(kRunning, 0), Status(kCompleted, 300)};
  FakeClock clock;
  std::ostringstream out, err;
  EXPECT_EQ(RunKekRotate(client, {.wait = true}, clock.Get(),
                         {.format = OutputFormat::kJson, .out = out, .err = err}),
            kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["state"], "completed");
  EXPECT_EQ(doc["retired_kek_versions"], nlohmann::json::array({1}));
  EXPECT_THAT(err.str(), HasSubstr("running, 0/300"));
}

TEST(KekRotateTest, FailedRotationExitsOne) {
  FakeAdminClient client;
  client.rotation = {Status(kRunning, 0), Status(kRunning, 50), Status(kFailed, 120)};
  FakeClock clock;
  std::ostringstream out, err;
  EXPECT_EQ(RunKekRotate(client, {.wait = true}, clock.Get(),
                         {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitFailed);
  EXPECT_THAT(err.str(), HasSubstr("KEK rotation to version 2 failed after 120/300 volumes"));
}

TEST(KekRotateTest, StalledRotationExitsOne) {
  FakeAdminClient client;
  client.rotation = {Status(kRunning, 0), Status(kRunning, 10, 300, 5555)};
  FakeClock clock;
  std::ostringstream out, err;
  KekRotateArgs args{.wait = true, .stall_timeout = absl::Seconds(30)};
  EXPECT_EQ(RunKekRotate(client, args, clock.Get(),
                         {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitFailed);
  EXPECT_THAT(err.str(), HasSubstr("made no progress for 30s (stuck at 10/300)"));
}

TEST(KekRotateTest, LostStatusExitsOneAndSaysTheRotationContinues) {
  FakeAdminClient client;
  client.rotation = {Status(kRunning, 0)};
  client.status_error = absl::UnavailableError("cannot reach the key service at kms.test:7443");
  FakeClock clock;
  std::ostringstream out, err;
  EXPECT_EQ(RunKekRotate(client, {.wait = true}, clock.Get(),
                         {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitFailed);
  EXPECT_THAT(err.str(), HasSubstr("the rotation goes on in the key service"));
}

}  // namespace
}  // namespace cloak::cli
