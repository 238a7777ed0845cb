#include "kms/store/testing/fake_key_store.h"

#include "gmock/gmock.h"
#include "tests/kms/store/key_store_conformance.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {
namespace {

class FakeHarness : public StoreHarness {
 public:
  FakeHarness() : store_(clock()) {}
  KeyStore& store() override { return store_; }
  FakeKeyStore& fake() { return store_; }

 private:
  FakeKeyStore store_;
};

INSTANTIATE_TEST_SUITE_P(Fake, KeyStoreConformance,
                         ::testing::Values(ConformanceParam{
                             "Fake", [] { return std::make_unique<FakeHarness>(); }}),
                         ConformanceName);

TEST(FakeKeyStoreTest, UnavailableStoreRefusesEverythingAndWritesNothing) {
  FakeHarness harness;
  harness.fake().SetUnavailable(absl::UnavailableError("injected"));
  Volume stored;
  EXPECT_EQ(harness.store().CreateVolume(TestVolume("pvc-1"), TestEvent("Create"), &stored).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(harness.store().AppendAudit(TestEvent("GetVolumeKey")).status().code(),
            absl::StatusCode::kUnavailable);
  harness.fake().SetUnavailable(absl::OkStatus());
  EXPECT_EQ(harness.store().GetVolume("pvc-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(harness.store().ListAudit(1, 10)->empty());
}

TEST(FakeKeyStoreTest, TamperedAuditEntryIsReportedAtItsSequence) {
  FakeHarness harness;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(harness.store().AppendAudit(TestEvent("GetVolumeKey")).ok());
  harness.fake().MutateAuditLog(
      [](std::vector<AuditEntry>& log) { log[3].event.actor = "mallory"; });
  absl::StatusOr<AuditHead> head = harness.store().VerifyAuditChain();
  EXPECT_EQ(head.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(head.status().message(), ::testing::HasSubstr("sequence 4"));
}

}  // namespace
}  // namespace cloak::kms
