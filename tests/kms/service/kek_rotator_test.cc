#include "kms/service/kek_rotator.h"

#include <gtest/gtest.h>

#include <atomic>

#include "tests/kms/service/service_test_util.h"

namespace cloak::kms::kms_test {
namespace {

// Delegates to a real provider; Wrap fails once `wraps_left` reaches zero (when armed).
class FailingKeks final : public KekProvider {
 public:
  explicit FailingKeks(KekProvider& inner) : inner_(inner) {}
  absl::StatusOr<std::vector<std::uint8_t>> Wrap(std::uint32_t version, const SecretBytes& dek,
                                                 std::span<const std::uint8_t> aad) override {
    if (armed && wraps_left-- <= 0) return absl::UnavailableError("injected HSM failure");
    return inner_.Wrap(version, dek, aad);
  }
  absl::StatusOr<SecretBytes> Unwrap(std::uint32_t version, std::span<const std::uint8_t> blob,
                                     std::span<const std::uint8_t> aad) override {
    return inner_.Unwrap(version, blob, aad);
  }
  std::uint32_t CurrentVersion() const override { return inner_.CurrentVersion(); }
  std::vector<KekVersionInfo> Versions() const override { return inner_.Versions(); }

  bool armed = false;
  int wraps_left = 0;

 private:
  KekProvider& inner_;
};

TEST(KekRotatorTest, RotationSurvivesAFailureMidwayAndResumes) {
  ServiceHarness h;
  Session controller = h.Attest("controller/cloak").value();
  Session node = h.Attest("node/worker-1").value();
  constexpr int kVolumes = 1000;
  std::vector<SecretBytes> before;
  for (int i = 0; i < kVolumes; ++i) {
    ASSERT_TRUE(h.Create(controller, "pvc-" + std::to_string(i)).ok());
    before.push_back(h.StoredDek("pvc-" + std::to_string(i)).value());
  }
  v1::DestroyVolumeKeyRequest destroy;  // a tombstone must not hold the rotation up
  destroy.set_session_token(controller.token);
  destroy.set_volume_id("pvc-999");
  ASSERT_TRUE(h.service->DoDestroyVolumeKey(destroy).ok());

  FileKekVersionManager versions(*h.keks);
  FailingKeks failing(*h.keks);
  failing.armed = true;
  failing.wraps_left = 450;
  KekRotator first(h.store, failing, versions, {.batch_size = 100});
  absl::StatusOr<RotationProgress> started = first.Start();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->target_kek_version, 2u);
  EXPECT_EQ(started->total, kVolumes - 1);
  EXPECT_EQ(first.RunToCompletion().status().code(), absl::StatusCode::kUnavailable);
  RotationProgress midway = h.store.GetRotationProgress().value();
  EXPECT_EQ(midway.state, RotationState::kRunning);
  EXPECT_EQ(midway.done, 450);
  EXPECT_EQ(h.keks->Versions().front().state, KekState::kActive);  // still in use

  // A fresh rotator (as after a restart) picks the persisted rotation up.
  KekRotator second(h.store, *h.keks, versions, {.batch_size = 100});
  absl::StatusOr<RotationProgress> resumed = second.Start();
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->target_kek_version, 2u);  // no third version
  absl::StatusOr<RotationProgress> done = second.RunToCompletion();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, RotationState::kCompleted);
  EXPECT_EQ(done->done, kVolumes - 1);
  EXPECT_EQ(h.store.CountByKekVersion().value(),
            (std::map<std::uint32_t, std::int64_t>{{2, kVolumes - 1}}));
  ASSERT_EQ(h.keks->Versions().size(), 2u);
  EXPECT_EQ(h.keks->Versions()[0].state, KekState::kRetired);

  for (int i = 0; i < kVolumes - 1; ++i) {
    const std::string id = "pvc-" + std::to_string(i);
    ASSERT_TRUE(h.StoredDek(id).value() == before[i]) << id;
  }
  EXPECT_TRUE(h.Fetch(node, "pvc-7").value() == before[7]);
}

TEST(KekRotatorTest, StepWithoutRotationIsFailedPrecondition) {
  ServiceHarness h;
  FileKekVersionManager versions(*h.keks);
  KekRotator rotator(h.store, *h.keks, versions, {});
  EXPECT_EQ(rotator.Step().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(rotator.Start().ok());
  ASSERT_EQ(rotator.RunToCompletion()->state, RotationState::kCompleted);
  EXPECT_EQ(rotator.Step().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(KekRotatorTest, FailedRotationIsRecordedAuditedAndResumedOnTheSameTarget) {
  ServiceHarness h;
  Session controller = h.Attest("controller/cloak").value();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(h.Create(controller, "vol-" + std::to_string(i)).ok());
  FileKekVersionManager versions(*h.keks);
  FailingKeks failing(*h.keks);
  failing.armed = true;
  failing.wraps_left = 10;
  KekRotator rotator(h.store, failing, versions, {.batch_size = 100});
  ASSERT_TRUE(rotator.Start().ok());
  const absl::Status why = rotator.RunToCompletion().status();
  ASSERT_FALSE(why.ok());

  absl::StatusOr<RotationProgress> failed = rotator.MarkFailed(why);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->state, RotationState::kFailed);
  EXPECT_EQ(h.store.GetRotationProgress()->state, RotationState::kFailed);
  EXPECT_EQ(rotator.Step().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rotator.MarkFailed(why).status().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<AuditEntry> audit = h.store.ListAudit(0, 1000).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().event.action, "RotateKekFailed");
  EXPECT_EQ(audit.back().event.outcome, "error");
  EXPECT_EQ(audit.back().event.details.at("error"), std::string(why.message()));

  // Once the cause is fixed, RotateKek resumes the same target instead of a third version.
  failing.armed = false;
  absl::StatusOr<RotationProgress> resumed = rotator.Start();
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state, RotationState::kRunning);
  EXPECT_EQ(resumed->target_kek_version, 2u);
  EXPECT_EQ(h.keks->Versions().size(), 2u);
  EXPECT_EQ(rotator.RunToCompletion()->state, RotationState::kCompleted);
}

}  // namespace
}  // namespace cloak::kms::kms_test
