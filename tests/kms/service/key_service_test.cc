#include "kms/service/key_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <functional>

#include "absl/strings/escaping.h"
#include "crypt/volume_record.h"
#include "tests/kms/service/service_test_util.h"

namespace cloak::kms::kms_test {
namespace {

using ::testing::HasSubstr;

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controller_ = h_.Attest("controller/cloak").value();
    node_ = h_.Attest("node/worker-1").value();
  }
  ServiceHarness h_;
  Session controller_;
  Session node_;
};

TEST_F(KeyServiceTest, SealedDekOpensToTheStoredDek) {
  v1::CreateVolumeKeyResponse created;
  ASSERT_TRUE(h_.Create(controller_, "pvc-1", v1::INTEGRITY_MODE_NONE, &created).ok());
  EXPECT_EQ(created.state(), v1::VOLUME_STATE_CREATED);
  v1::GetVolumeKeyResponse response;
  absl::StatusOr<SecretBytes> dek = h_.Fetch(node_, "pvc-1", &response);
  ASSERT_TRUE(dek.ok()) << dek.status();
  EXPECT_EQ(dek->size(), 64u);
  absl::StatusOr<SecretBytes> stored = h_.StoredDek("pvc-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(*dek == *stored);
  auto record = crypt::ParseVolumeRecord(response.record_json());
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->volume_id, "pvc-1");
}

TEST_F(KeyServiceTest, HmacIntegrityGets96ByteDekAndAead32) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-h", v1::INTEGRITY_MODE_HMAC_SHA256).ok());
  ASSERT_TRUE(h_.Create(controller_, "pvc-a", v1::INTEGRITY_MODE_AEAD).ok());
  EXPECT_EQ(h_.Fetch(node_, "pvc-h")->size(), 96u);
  EXPECT_EQ(h_.Fetch(node_, "pvc-a")->size(), 32u);
}

TEST_F(KeyServiceTest, ReplayedNonceIsUnauthenticated) {
  v1::ChallengeResponse challenge;
  ASSERT_TRUE(h_.service->DoChallenge(&challenge).ok());
  EXPECT_EQ(challenge.nonce().size(), 32u);
  HpkeKeyPair pair = HpkeGenerateKeyPair().value();
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(AsString(pair.public_key));
  request.set_evidence_type(v1::EVIDENCE_TYPE_TPM);
  request.set_evidence(AsString(NoneVerifier::MakeEvidence(
      ComputeBinding(AsBytes(challenge.nonce()), pair.public_key), "node/a")));
  v1::AttestResponse response;
  ASSERT_TRUE(h_.service->DoAttest(request, &response).ok());
  EXPECT_EQ(h_.service->DoAttest(request, &response).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(KeyServiceTest, ExpiredNonceIsUnauthenticated) {
  v1::ChallengeResponse challenge;
  ASSERT_TRUE(h_.service->DoChallenge(&challenge).ok());
  h_.clock.Advance(absl::Seconds(61));
  HpkeKeyPair pair = HpkeGenerateKeyPair().value();
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(AsString(pair.public_key));
  request.set_evidence_type(v1::EVIDENCE_TYPE_TPM);
  request.set_evidence(AsString(NoneVerifier::MakeEvidence(
      ComputeBinding(AsBytes(challenge.nonce()), pair.public_key), "node/a")));
  v1::AttestResponse response;
  absl::Status s = h_.service->DoAttest(request, &response);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(), HasSubstr("expired"));
}

TEST_F(KeyServiceTest, EvidenceBindingAnotherKeyIsRefused) {
  v1::ChallengeResponse challenge;
  ASSERT_TRUE(h_.service->DoChallenge(&challenge).ok());
  HpkeKeyPair pair = HpkeGenerateKeyPair().value();
  HpkeKeyPair other = HpkeGenerateKeyPair().value();
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(AsString(pair.public_key));
  request.set_evidence_type(v1::EVIDENCE_TYPE_TPM);
  request.set_evidence(AsString(NoneVerifier::MakeEvidence(
      ComputeBinding(AsBytes(challenge.nonce()), other.public_key), "node/a")));
  v1::AttestResponse response;
  EXPECT_EQ(h_.service->DoAttest(request, &response).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(KeyServiceTest, AttestValidatesInput) {
  v1::AttestRequest request;
  v1::AttestResponse response;
  absl::Status s = h_.service->DoAttest(request, &response);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("nonce"));
  request.set_nonce(std::string(32, 'n'));
  request.set_ephemeral_public_key(std::string(32, 'k'));
  request.set_evidence("x");
  s = h_.service->DoAttest(request, &response);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("evidence_type"));
}

TEST_F(KeyServiceTest, IdentityWithoutRoleIsPermissionDenied) {
  EXPECT_EQ(h_.Attest("someone").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(KeyServiceTest, TokenForAnotherEphemeralKeyIsUnauthenticated) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  Session other = h_.Attest("node/worker-2").value();
  Session mixed{
      .key_pair = std::move(other.key_pair), .binding = node_.binding, .token = node_.token};
  EXPECT_EQ(h_.Fetch(mixed, "pvc-1").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(KeyServiceTest, ExpiredTokenIsUnauthenticated) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  h_.clock.Advance(SessionTokens::kDefaultTtl + absl::Seconds(1));
  EXPECT_EQ(h_.Fetch(node_, "pvc-1").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(KeyServiceTest, TamperedOrMissingTokenIsUnauthenticated) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  Session bad{
      .key_pair = std::move(node_.key_pair), .binding = node_.binding, .token = node_.token};
  bad.token[20] ^= 1;
  EXPECT_EQ(h_.Fetch(bad, "pvc-1").status().code(), absl::StatusCode::kUnauthenticated);
  bad.token.clear();
  EXPECT_EQ(h_.Fetch(bad, "pvc-1").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(KeyServiceTest, ControllerNeverReceivesAKey) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  EXPECT_EQ(h_.Fetch(controller_, "pvc-1").status().code(), absl::StatusCode::kPermissionDenied);
  auto audit = h_.store.ListAudit(0, 1000).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().event.action, "GetVolumeKey");
  EXPECT_EQ(audit.back().event.outcome, "PERMISSION_DENIED");
  EXPECT_EQ(audit.back().event.actor, "controller/cloak");
}

TEST_F(KeyServiceTest, NodeMayNotCreateOrDestroy) {
  EXPECT_EQ(h_.Create(node_, "pvc-1").code(), absl::StatusCode::kPermissionDenied);
  v1::DestroyVolumeKeyRequest destroy;
  destroy.set_session_token(node_.token);
  destroy.set_volume_id("pvc-1");
  EXPECT_EQ(h_.service->DoDestroyVolumeKey(destroy).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(KeyServiceTest, UnknownVolumeIsNotFoundAndAudited) {
  EXPECT_EQ(h_.Fetch(node_, "pvc-missing").status().code(), absl::StatusCode::kNotFound);
  auto audit = h_.store.ListAudit(0, 1000).value();
  EXPECT_EQ(audit.back().event.outcome, "NOT_FOUND");
  EXPECT_EQ(audit.back().event.volume_id, "pvc-missing");
}

TEST_F(KeyServiceTest, BadVolumeIdsAreInvalidArgument) {
  for (const std::string& id : {std::string(), std::string(48, 'a'), std::string("a/b"),
                                std::string("pvc 1"), std::string("\xc3\xa9")}) {
    absl::Status s = h_.Create(controller_, id);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(s.message(), HasSubstr("volume_id")) << id;
    EXPECT_EQ(h_.Fetch(node_, id).status().code(), absl::StatusCode::kInvalidArgument) << id;
  }
  EXPECT_THAT(h_.Create(controller_, std::string(48, 'a')).message(), HasSubstr("LUKS2 label"));
  EXPECT_TRUE(h_.Create(controller_, std::string(47, 'a')).ok());
  EXPECT_EQ(h_.Create(controller_, "pvc-x", v1::INTEGRITY_MODE_UNSPECIFIED).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyServiceTest, CreateIsIdempotentAndConflictsAreAlreadyExists) {
  v1::CreateVolumeKeyResponse first, second;
  ASSERT_TRUE(h_.Create(controller_, "pvc-1", v1::INTEGRITY_MODE_NONE, &first).ok());
  SecretBytes dek = h_.StoredDek("pvc-1").value();
  ASSERT_TRUE(h_.Create(controller_, "pvc-1", v1::INTEGRITY_MODE_NONE, &second).ok());
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
  EXPECT_TRUE(h_.StoredDek("pvc-1").value() == dek);  // no new key
  EXPECT_EQ(h_.Create(controller_, "pvc-1", v1::INTEGRITY_MODE_AEAD).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(KeyServiceTest, FailedCreateLeavesNothing) {
  h_.store.SetUnavailable(absl::UnavailableError("store down"));
  EXPECT_EQ(h_.Create(controller_, "pvc-1").code(), absl::StatusCode::kUnavailable);
  h_.store.SetUnavailable(absl::OkStatus());
  EXPECT_EQ(h_.store.GetVolume("pvc-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KeyServiceTest, DestroyThenGetIsNotFoundAndDestroyIsIdempotent) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  v1::DestroyVolumeKeyRequest destroy;
  destroy.set_session_token(controller_.token);
  destroy.set_volume_id("pvc-1");
  ASSERT_TRUE(h_.service->DoDestroyVolumeKey(destroy).ok());
  EXPECT_TRUE(h_.service->DoDestroyVolumeKey(destroy).ok());
  EXPECT_EQ(h_.Fetch(node_, "pvc-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(h_.store.GetVolume("pvc-1")->wrapped_dek.empty());
  destroy.set_volume_id("pvc-never");
  EXPECT_TRUE(h_.service->DoDestroyVolumeKey(destroy).ok());
  EXPECT_EQ(h_.Create(controller_, "pvc-1").code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(KeyServiceTest, ReportVolumeStateIsCompareAndSet) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  v1::ReportVolumeStateRequest report;
  report.set_session_token(node_.token);
  report.set_volume_id("pvc-1");
  report.set_expected_state(v1::VOLUME_STATE_CREATED);
  report.set_new_state(v1::VOLUME_STATE_FORMATTED);
  v1::ReportVolumeStateResponse response;
  ASSERT_TRUE(h_.service->DoReportVolumeState(report, &response).ok());
  EXPECT_EQ(response.state(), v1::VOLUME_STATE_FORMATTED);
  EXPECT_TRUE(h_.service->DoReportVolumeState(report, &response).ok());  // a retry
  v1::GetVolumeKeyResponse key;
  ASSERT_TRUE(h_.Fetch(node_, "pvc-1", &key).ok());
  EXPECT_EQ(crypt::ParseVolumeRecord(key.record_json())->state, crypt::VolumeState::kFormatted);
  report.set_new_state(v1::VOLUME_STATE_DESTROYED);
  EXPECT_EQ(h_.service->DoReportVolumeState(report, &response).code(),
            absl::StatusCode::kInvalidArgument);
  report.set_new_state(v1::VOLUME_STATE_FORMATTED);
  report.set_volume_id("pvc-missing");
  EXPECT_EQ(h_.service->DoReportVolumeState(report, &response).code(), absl::StatusCode::kNotFound);
  report.set_session_token(controller_.token);
  EXPECT_EQ(h_.service->DoReportVolumeState(report, &response).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(KeyServiceTest, CloneSharesTheKey) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  v1::CloneVolumeKeyRequest clone;
  clone.set_session_token(controller_.token);
  clone.set_source_volume_id("pvc-1");
  clone.set_volume_id("pvc-2");
  v1::CloneVolumeKeyResponse response;
  ASSERT_TRUE(h_.service->DoCloneVolumeKey(clone, &response).ok());
  EXPECT_EQ(crypt::ParseVolumeRecord(response.record_json())->volume_id, "pvc-2");
  ASSERT_TRUE(h_.service->DoCloneVolumeKey(clone, &response).ok());  // idempotent
  EXPECT_TRUE(h_.Fetch(node_, "pvc-2").value() == h_.Fetch(node_, "pvc-1").value());
  clone.set_source_volume_id("pvc-missing");
  clone.set_volume_id("pvc-3");
  EXPECT_EQ(h_.service->DoCloneVolumeKey(clone, &response).code(), absl::StatusCode::kNotFound);
  clone.set_source_volume_id("pvc-1");
  clone.set_volume_id("pvc-1");
  EXPECT_EQ(h_.service->DoCloneVolumeKey(clone, &response).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyServiceTest, StoreUnavailableIsUnavailable) {
  ASSERT_TRUE(h_.Create(controller_, "pvc-1").ok());
  h_.store.SetUnavailable(absl::UnavailableError("store down"));
  EXPECT_EQ(h_.Fetch(node_, "pvc-1").status().code(), absl::StatusCode::kUnavailable);
}

// Invariant 1: neither the log nor the audit ever holds DEK bytes, raw or in hex.
TEST_F(KeyServiceTest, DekNeverInLogOrAudit) {
  std::vector<SecretBytes> deks;
  for (int i = 0; i < 5; ++i) {
    const std::string id = "pvc-" + std::to_string(i);
    ASSERT_TRUE(h_.Create(controller_, id).ok());
    deks.push_back(h_.Fetch(node_, id).value());
    (void)h_.Fetch(controller_, id);
  }
  std::string audit_text;
  const std::vector<AuditEntry> entries = h_.store.ListAudit(0, 1000).value();
  for (const AuditEntry& entry : entries) {
    audit_text +=
        entry.event.actor + entry.event.action + entry.event.volume_id + entry.event.outcome;
    for (const auto& [k, v] : entry.event.details) audit_text += k + v;
  }
  const std::string log = h_.LogText();
  ASSERT_THAT(log, HasSubstr("GetVolumeKey"));  // the capture works
  for (const SecretBytes& dek : deks) {
    const std::string raw(reinterpret_cast<const char*>(dek.SecretData()), dek.size());
    const std::string hex = absl::BytesToHexString(raw);
    // Any 8-byte window would be enough to give the key away.
    for (std::size_t i = 0; i + 8 <= raw.size(); i += 8) {
      EXPECT_EQ(log.find(raw.substr(i, 8)), std::string::npos);
      EXPECT_EQ(audit_text.find(raw.substr(i, 8)), std::string::npos);
      EXPECT_EQ(log.find(hex.substr(2 * i, 16)), std::string::npos);
      EXPECT_EQ(audit_text.find(hex.substr(2 * i, 16)), std::string::npos);
    }
  }
}

TEST(NoneVerifierTest, RefusedWithoutTheInsecureFlag) {
  const AttestationChallenge challenge =
      AttestationChallenge::For(std::vector<std::uint8_t>(32, 1), std::vector<std::uint8_t>(32, 2));
  std::vector<std::uint8_t> evidence = NoneVerifier::MakeEvidence(challenge.binding, "node/dev");
  NoneVerifier refusing(false);
  EXPECT_EQ(refusing.Verify(EvidenceType::kNone, evidence, challenge).status().code(),
            absl::StatusCode::kPermissionDenied);
  NoneVerifier allowing(true);
  absl::StatusOr<Claims> claims = allowing.Verify(EvidenceType::kNone, evidence, challenge);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->identity, "node/dev");
  AttestationChallenge other = challenge;
  other.binding[63] ^= 1;  // the last byte counts: the full digest is compared
  EXPECT_EQ(allowing.Verify(EvidenceType::kNone, evidence, other).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(allowing.Verify(EvidenceType::kTpm, evidence, challenge).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AttestationChallengeTest, BothDigestsCoverTheLabelTheNonceAndTheKey) {
  const std::vector<std::uint8_t> nonce(32, 0xa5), key(32, 0x5a);
  const AttestationChallenge challenge = AttestationChallenge::For(nonce, key);
  EXPECT_EQ(challenge.binding, ComputeBinding(nonce, key));
  EXPECT_EQ(challenge.tpm_extra_data, ComputeTpmExtraData(nonce, key));
  // SHA-256("cloak-attest-v1" || 32 x a5 || 32 x 5a), computed independently.
  std::string input = "cloak-attest-v1" + std::string(32, '\xa5') + std::string(32, '\x5a');
  std::array<std::uint8_t, 32> expected{};
  SHA256(reinterpret_cast<const std::uint8_t*>(input.data()), input.size(), expected.data());
  EXPECT_EQ(challenge.tpm_extra_data, expected);
  std::vector<std::uint8_t> other_key = key;
  other_key[31] ^= 1;
  EXPECT_NE(AttestationChallenge::For(nonce, other_key).tpm_extra_data, challenge.tpm_extra_data);
}

// AK enrollment's request limits come before anything else, and a service without EK CAs
// (no AkEnroller) says how to enable it.
TEST_F(KeyServiceTest, AkEnrollmentRequestsAreBoundedAndNeedAnEnroller) {
  v1::BeginAkEnrollmentRequest begin;
  begin.set_ak_public(std::string(100, 'a'));
  begin.set_ek_public(std::string(300, 'e'));
  begin.set_ek_certificate(std::string(1200, 'c'));
  v1::BeginAkEnrollmentResponse offer;
  for (const auto& [field, edit] :
       std::vector<std::pair<std::string, std::function<void(v1::BeginAkEnrollmentRequest&)>>>{
           {"ak_public", [](auto& r) { r.clear_ak_public(); }},
           {"ek_public", [](auto& r) { r.set_ek_public(std::string(2049, 'e')); }},
           {"ek_certificate",
            [](auto& r) { r.set_ek_certificate(std::string(16 * 1024 + 1, 'c')); }},
       }) {
    v1::BeginAkEnrollmentRequest bad = begin;
    edit(bad);
    const absl::Status s = h_.service->DoBeginAkEnrollment(bad, &offer);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(s.message(), HasSubstr(field));
  }
  const absl::Status disabled = h_.service->DoBeginAkEnrollment(begin, &offer);
  EXPECT_EQ(disabled.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(disabled.message(), HasSubstr("attestation.tpm.ek_ca_files"));

  v1::CompleteAkEnrollmentRequest complete;
  v1::CompleteAkEnrollmentResponse done;
  complete.set_enrollment_id(std::string(15, 'i'));
  complete.set_secret(std::string(32, 's'));
  EXPECT_THAT(h_.service->DoCompleteAkEnrollment(complete, &done).message(),
              HasSubstr("enrollment_id"));
  complete.set_enrollment_id(std::string(16, 'i'));
  complete.set_secret(std::string(65, 's'));
  const absl::Status long_secret = h_.service->DoCompleteAkEnrollment(complete, &done);
  EXPECT_EQ(long_secret.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(long_secret.message(), HasSubstr("secret"));
  // The refusal names the field and its size, never the bytes.
  EXPECT_THAT(std::string(long_secret.message()), ::testing::Not(HasSubstr("sssss")));
  complete.set_secret(std::string(32, 's'));
  EXPECT_EQ(h_.service->DoCompleteAkEnrollment(complete, &done).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cloak::kms::kms_test
