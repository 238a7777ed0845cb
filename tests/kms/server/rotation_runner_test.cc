// RotationRunner: transient step failures are retried, a persistent one is recorded as a
// failed rotation (store record and audit) instead of being retried forever.

#include "kms/server/rotation_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/kms/service/service_test_util.h"

namespace cloak::kms::kms_test {
namespace {

// Delegates to a real provider; Unwrap answers `failure` while it is set.
class BrokenUnwrapKeks final : public KekProvider {
 public:
  explicit BrokenUnwrapKeks(KekProvider& inner) : inner_(inner) {}
  absl::StatusOr<std::vector<std::uint8_t>> Wrap(std::uint32_t version, const SecretBytes& dek,
                                                 std::span<const std::uint8_t> aad) override {
    return inner_.Wrap(version, dek, aad);
  }
  absl::StatusOr<SecretBytes> Unwrap(std::uint32_t version, std::span<const std::uint8_t> blob,
                                     std::span<const std::uint8_t> aad) override {
    ++unwraps;
    if (failing.load()) return absl::Status(code.load(), "injected unwrap failure");
    return inner_.Unwrap(version, blob, aad);
  }
  std::uint32_t CurrentVersion() const override { return inner_.CurrentVersion(); }
  std::vector<KekVersionInfo> Versions() const override { return inner_.Versions(); }

  std::atomic<bool> failing{true};
  std::atomic<absl::StatusCode> code{absl::StatusCode::kDataLoss};
  std::atomic<int> unwraps{0};

 private:
  KekProvider& inner_;
};

// Polls the store's rotation record until `done` holds or 20 s pass.
template <typename Pred>
bool WaitFor(FakeKeyStore& store, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<RotationProgress> progress = store.GetRotationProgress();
    if (progress.ok() && done(*progress)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(RotationRunnerTest, PersistentStepFailureIsRecordedAsFailed) {
  ServiceHarness h;
  Session controller = h.Attest("controller/cloak").value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.Create(controller, "vol-" + std::to_string(i)).ok());
  FileKekVersionManager versions(*h.keks);
  BrokenUnwrapKeks keks(*h.keks);
  KekRotator rotator(h.store, keks, versions, {});
  FaultPoints faults;
  server::RotationRunner runner(rotator, h.logger, faults);
  ASSERT_TRUE(rotator.Start().ok());
  runner.Kick();

  ASSERT_TRUE(WaitFor(h.store,
                      [](const RotationProgress& p) { return p.state == RotationState::kFailed; }));
  EXPECT_EQ(keks.unwraps.load(), server::RotationRunner::kMaxStepFailures);
  const std::vector<AuditEntry> audit = h.store.ListAudit(0, 1000).value();
  EXPECT_EQ(audit.back().event.action, "RotateKekFailed");
  EXPECT_NE(audit.back().event.details.at("error").find("injected unwrap failure"),
            std::string::npos);
  EXPECT_NE(h.LogText().find("KEK rotation failed"), std::string::npos);

  // Fixed: RotateKek resumes it and the runner finishes it.
  keks.failing = false;
  ASSERT_EQ(rotator.Start()->state, RotationState::kRunning);
  runner.Kick();
  ASSERT_TRUE(WaitFor(
      h.store, [](const RotationProgress& p) { return p.state == RotationState::kCompleted; }));
  EXPECT_EQ(h.store.CountByKekVersion().value(), (std::map<std::uint32_t, std::int64_t>{{2, 5}}));
  runner.Stop();
}

TEST(RotationRunnerTest, TransientFailuresAreRetriedUntilTheyClear) {
  ServiceHarness h;
  Session controller = h.Attest("controller/cloak").value();
  ASSERT_TRUE(h.Create(controller, "vol-0").ok());
  FileKekVersionManager versions(*h.keks);
  BrokenUnwrapKeks keks(*h.keks);
  keks.code = absl::StatusCode::kUnavailable;
  KekRotator rotator(h.store, keks, versions, {});
  FaultPoints faults;
  server::RotationRunner runner(rotator, h.logger, faults);
  ASSERT_TRUE(rotator.Start().ok());
  runner.Kick();
  // Well past kMaxStepFailures attempts (one per second), still running.
  while (keks.unwraps.load() < server::RotationRunner::kMaxStepFailures + 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(h.store.GetRotationProgress()->state, RotationState::kRunning);
  keks.failing = false;
  ASSERT_TRUE(WaitFor(
      h.store, [](const RotationProgress& p) { return p.state == RotationState::kCompleted; }));
  runner.Stop();
}

}  // namespace
}  // namespace cloak::kms::kms_test
