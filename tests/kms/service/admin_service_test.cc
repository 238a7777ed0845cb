#include "kms/service/admin_service.h"

#include <gtest/gtest.h>

#include "tests/kms/service/service_test_util.h"

namespace cloak::kms::kms_test {
namespace {

class AdminServiceTest : public ::testing::Test {
 protected:
  AdminServiceTest()
      : versions_(*h_.keks),
        rotator_(h_.store, *h_.keks, versions_, {.batch_size = 7}),
        admin_(AdminServiceContext{.store = &h_.store,
                                   .keks = h_.keks.get(),
                                   .rotator = &rotator_,
                                   .run_in_background = nullptr,
                                   .actor = "CN=admin",
                                   .description = {.store = "fake",
                                                   .kek_provider = "file",
                                                   .evidence_types = {"tpm"},
                                                   .insecure_allow_unattested = false},
                                   .check_policy = nullptr,
                                   .policy_stored = nullptr}) {}
  ServiceHarness h_;
  FileKekVersionManager versions_;
  KekRotator rotator_;
  AdminServiceImpl admin_;
};

TEST_F(AdminServiceTest, VolumesArePagedAndCarryNoKeyBytes) {
  Session controller = h_.Attest("controller/cloak").value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h_.Create(controller, "pvc-" + std::to_string(i)).ok());
  v1::ListVolumesRequest request;
  request.set_page_size(2);
  std::vector<std::string> ids;
  do {
    v1::ListVolumesResponse page;
    ASSERT_TRUE(admin_.DoListVolumes(request, &page).ok());
    for (const v1::VolumeInfo& info : page.volumes()) ids.push_back(info.volume_id());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(ids.size(), 5u);
  v1::GetVolumeRequest get;
  get.set_volume_id("pvc-3");
  v1::VolumeInfo info;
  ASSERT_TRUE(admin_.DoGetVolume(get, &info).ok());
  const std::string wire = info.SerializeAsString();
  const WrappedKey wrapped = h_.store.GetVolume("pvc-3")->wrapped_dek;
  const std::string blob(wrapped.ciphertext().begin(), wrapped.ciphertext().end());
  EXPECT_EQ(wire.find(blob.substr(17, 16)), std::string::npos);
  get.set_volume_id("pvc-missing");
  EXPECT_EQ(admin_.DoGetVolume(get, &info).code(), absl::StatusCode::kNotFound);
}

TEST_F(AdminServiceTest, RotateKekCompletesAndReportsStatus) {
  Session controller = h_.Attest("controller/cloak").value();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(h_.Create(controller, "pvc-" + std::to_string(i)).ok());
  v1::RotationStatus status;
  ASSERT_TRUE(admin_.DoGetRotationStatus(&status).ok());
  EXPECT_EQ(status.state(), v1::RotationStatus::STATE_UNSPECIFIED);
  ASSERT_TRUE(admin_.DoRotateKek(&status).ok());
  EXPECT_EQ(status.state(), v1::RotationStatus::STATE_COMPLETED);
  EXPECT_EQ(status.done(), 20);
  EXPECT_EQ(status.total(), 20);
  ASSERT_EQ(status.retired_kek_versions_size(), 1);
  EXPECT_EQ(status.retired_kek_versions(0), 1u);
}

TEST_F(AdminServiceTest, PoliciesAreVersionedJsonObjects) {
  v1::SetPolicyRequest set;
  set.set_name("attestation");
  set.set_document("[1,2]");
  v1::Policy policy;
  EXPECT_EQ(admin_.DoSetPolicy(set, &policy).code(), absl::StatusCode::kInvalidArgument);
  set.set_document("{\"allow\":[]}");
  ASSERT_TRUE(admin_.DoSetPolicy(set, &policy).ok());
  EXPECT_EQ(policy.version(), 1);
  EXPECT_EQ(admin_.DoSetPolicy(set, &policy).code(), absl::StatusCode::kAborted);
  set.set_expected_version(1);
  ASSERT_TRUE(admin_.DoSetPolicy(set, &policy).ok());
  v1::GetPolicyRequest get;
  get.set_name("attestation");
  ASSERT_TRUE(admin_.DoGetPolicy(get, &policy).ok());
  EXPECT_EQ(policy.version(), 2);
  get.set_name("bad name");
  EXPECT_EQ(admin_.DoGetPolicy(get, &policy).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AdminServiceTest, AuditListAndHealth) {
  v1::SetPolicyRequest set;
  set.set_name("attestation");
  set.set_document("{}");
  v1::Policy policy;
  ASSERT_TRUE(admin_.DoSetPolicy(set, &policy).ok());
  v1::ListAuditResponse audit;
  ASSERT_TRUE(admin_.DoListAudit(v1::ListAuditRequest(), &audit).ok());
  ASSERT_FALSE(audit.entries().empty());
  EXPECT_EQ(audit.entries().rbegin()->actor(), "CN=admin");
  EXPECT_EQ(audit.entries().rbegin()->hash().size(), 32u);
  v1::HealthResponse health;
  ASSERT_TRUE(admin_.DoHealth(&health).ok());
  EXPECT_TRUE(health.serving());
  EXPECT_EQ(health.store(), "fake");
  EXPECT_EQ(health.kek_provider(), "file");
  ASSERT_EQ(health.attestation_types_size(), 1);
  EXPECT_EQ(health.attestation_types(0), "tpm");
  EXPECT_FALSE(health.insecure_allow_unattested());
  EXPECT_EQ(health.rotation_state(), v1::RotationStatus::STATE_UNSPECIFIED);
  v1::RotationStatus rotation;
  ASSERT_TRUE(admin_.DoRotateKek(&rotation).ok());
  ASSERT_TRUE(admin_.DoHealth(&health).ok());
  EXPECT_EQ(health.rotation_state(), v1::RotationStatus::STATE_COMPLETED);
  h_.store.SetUnavailable(absl::UnavailableError("down"));
  EXPECT_EQ(admin_.DoHealth(&health).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(health.serving());
}

}  // namespace
}  // namespace cloak::kms::kms_test
