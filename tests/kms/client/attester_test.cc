// The attesters bind what the key service expects: NONE evidence = binding ‖ identity,
// a TPM quote over SHA-256("cloak-attest-v1" ‖ nonce ‖ key), an SEV-SNP report over the
// 64-byte binding. Fakes stand in for the TPM and the SNP firmware.

#include "kms/client/attester.h"

#include <openssl/sha.h>

#include <array>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/client/attesters/snp_attester.h"
#include "kms/client/attesters/tpm_attester.h"

namespace cloak::kms::client {
namespace {

using ::testing::HasSubstr;

AttestationChallenge Challenge() {
  std::vector<std::uint8_t> nonce(kNonceSize), key(32);
  for (std::size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<std::uint8_t>(i);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0xa0 + i);
  return AttestationChallenge::For(nonce, key);
}

class FakeTpm final : public attest::tpm::TpmAttester {
 public:
  absl::StatusOr<attest::tpm::TpmQuoteEvidence> CollectQuote(
      std::span<const std::uint8_t> input) override {
    inputs.emplace_back(input.begin(), input.end());
    return attest::tpm::TpmQuoteEvidence{};
  }
  absl::StatusOr<std::vector<std::uint8_t>> Collect(std::span<const std::uint8_t> input) override {
    inputs.emplace_back(input.begin(), input.end());
    return std::vector<std::uint8_t>{'q', 'u', 'o', 't', 'e'};
  }
  absl::StatusOr<SecretBytes> ActivateCredential(std::span<const std::uint8_t> blob,
                                                 std::span<const std::uint8_t> secret) override {
    activated.emplace_back(std::string(blob.begin(), blob.end()),
                           std::string(secret.begin(), secret.end()));
    if (!activation.ok()) return activation;
    const std::string recovered = "recovered-secret";
    return SecretBytes::CopyFrom(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(recovered.data()), recovered.size()));
  }
  const std::vector<std::uint8_t>& AkPublic() const override { return ak_; }
  const std::vector<std::uint8_t>& EkPublic() const override { return ek_; }
  const std::vector<std::uint8_t>& EkCertificate() const override { return certificate; }

  std::vector<std::vector<std::uint8_t>> inputs;
  std::vector<std::uint8_t> certificate;
  absl::Status activation = absl::OkStatus();
  std::vector<std::pair<std::string, std::string>> activated;

 private:
  std::vector<std::uint8_t> ak_{1, 2, 3};
  std::vector<std::uint8_t> ek_{4, 5, 6};
};

// Records the enrollment calls and answers them like a key service would.
class FakeEnrollmentChannel final : public EnrollmentChannel {
 public:
  absl::StatusOr<v1::BeginAkEnrollmentResponse> BeginAkEnrollment(
      const v1::BeginAkEnrollmentRequest& request) override {
    begins.push_back(request);
    if (!begin_status.ok()) return begin_status;
    v1::BeginAkEnrollmentResponse response;
    response.set_enrollment_id(std::string(16, 'i'));
    response.set_credential_blob("blob");
    response.set_encrypted_secret("encrypted");
    return response;
  }
  absl::StatusOr<v1::CompleteAkEnrollmentResponse> CompleteAkEnrollment(
      const v1::CompleteAkEnrollmentRequest& request) override {
    completes.push_back(request);
    return v1::CompleteAkEnrollmentResponse();
  }

  absl::Status begin_status = absl::OkStatus();
  std::vector<v1::BeginAkEnrollmentRequest> begins;
  std::vector<v1::CompleteAkEnrollmentRequest> completes;
};

TEST(TpmAttesterEnrollTest, WithoutAnEkCertificateThereIsNothingToEnroll) {
  auto tpm = std::make_unique<FakeTpm>();
  FakeTpm* fake = tpm.get();
  TpmAttester attester(std::move(tpm));
  FakeEnrollmentChannel channel;
  EXPECT_TRUE(attester.Enroll(channel).ok());
  EXPECT_TRUE(channel.begins.empty());
  EXPECT_TRUE(fake->activated.empty());
}

TEST(TpmAttesterEnrollTest, ActivatesTheCredentialAndReturnsItsSecret) {
  auto tpm = std::make_unique<FakeTpm>();
  FakeTpm* fake = tpm.get();
  fake->certificate = {0x30, 0x82};
  TpmAttester attester(std::move(tpm));
  FakeEnrollmentChannel channel;
  ASSERT_TRUE(attester.Enroll(channel).ok());
  ASSERT_EQ(channel.begins.size(), 1u);
  EXPECT_EQ(channel.begins[0].ak_public(), std::string("\x01\x02\x03", 3));
  EXPECT_EQ(channel.begins[0].ek_public(), std::string("\x04\x05\x06", 3));
  EXPECT_EQ(channel.begins[0].ek_certificate(), std::string("\x30\x82", 2));
  ASSERT_EQ(fake->activated.size(), 1u);
  EXPECT_EQ(fake->activated[0].first, "blob");
  EXPECT_EQ(fake->activated[0].second, "encrypted");
  ASSERT_EQ(channel.completes.size(), 1u);
  EXPECT_EQ(channel.completes[0].enrollment_id(), std::string(16, 'i'));
  // The request the channel saw carried the secret; the attester's own copy is wiped
  // after the call, which is why the channel keeps its own.
  EXPECT_EQ(channel.completes[0].secret(), "recovered-secret");
}

TEST(TpmAttesterEnrollTest, ARefusedCredentialIsNotAnswered) {
  auto tpm = std::make_unique<FakeTpm>();
  FakeTpm* fake = tpm.get();
  fake->certificate = {0x30};
  fake->activation = absl::PermissionDeniedError("TPM_RC_INTEGRITY");
  TpmAttester attester(std::move(tpm));
  FakeEnrollmentChannel channel;
  const absl::Status status = attester.Enroll(channel);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("enrollment credential"));
  EXPECT_TRUE(channel.completes.empty());
}

TEST(TpmAttesterEnrollTest, TheServicesRefusalIsReturned) {
  auto tpm = std::make_unique<FakeTpm>();
  tpm->certificate = {0x30};
  TpmAttester attester(std::move(tpm));
  FakeEnrollmentChannel channel;
  channel.begin_status = absl::FailedPreconditionError("not enabled");
  EXPECT_EQ(attester.Enroll(channel).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(channel.completes.empty());
}

TEST(NoneAttesterTest, EvidenceIsBindingThenIdentity) {
  NoneAttester attester("node/worker-1");
  const AttestationChallenge challenge = Challenge();
  absl::StatusOr<std::string> evidence = attester.Collect(challenge);
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  EXPECT_EQ(attester.type(), EvidenceType::kNone);
  ASSERT_EQ(evidence->size(), kBindingSize + 13);
  EXPECT_EQ(evidence->substr(0, kBindingSize),
            std::string(challenge.binding.begin(), challenge.binding.end()));
  EXPECT_EQ(evidence->substr(kBindingSize), "node/worker-1");
}

TEST(NoneAttesterTest, RefusesEmptyAndOverlongIdentities) {
  EXPECT_EQ(NoneAttester("").Collect(Challenge()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NoneAttester(std::string(129, 'n')).Collect(Challenge()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TpmAttesterTest, QuotesOverTheBindingInputWhoseHashIsTheExtraData) {
  auto tpm = std::make_unique<FakeTpm>();
  FakeTpm* fake = tpm.get();
  TpmAttester attester(std::move(tpm));
  const AttestationChallenge challenge = Challenge();
  absl::StatusOr<std::string> evidence = attester.Collect(challenge);
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  EXPECT_EQ(*evidence, "quote");
  EXPECT_EQ(attester.type(), EvidenceType::kTpm);
  ASSERT_EQ(fake->inputs.size(), 1u);
  const std::vector<std::uint8_t>& input = fake->inputs[0];
  std::string expected = "cloak-attest-v1";
  expected.append(challenge.nonce.begin(), challenge.nonce.end());
  expected.append(challenge.ephemeral_public_key.begin(), challenge.ephemeral_public_key.end());
  EXPECT_EQ(std::string(input.begin(), input.end()), expected);
  std::array<std::uint8_t, 32> digest{};
  SHA256(input.data(), input.size(), digest.data());
  EXPECT_EQ(digest, challenge.tpm_extra_data);
  EXPECT_EQ(TpmBindingInput(challenge), input);
}

TEST(TpmAttesterTest, RefusesAChallengeWhoseExtraDataIsSomethingElse) {
  auto tpm = std::make_unique<FakeTpm>();
  FakeTpm* fake = tpm.get();
  TpmAttester attester(std::move(tpm));
  AttestationChallenge challenge = Challenge();
  challenge.tpm_extra_data[31] ^= 1;
  absl::StatusOr<std::string> evidence = attester.Collect(challenge);
  EXPECT_EQ(evidence.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(evidence.status().message(), HasSubstr("tpm_extra_data"));
  EXPECT_TRUE(fake->inputs.empty());
}

class FakeSnp final : public attest::snp::SnpCollector {
 public:
  absl::StatusOr<std::string> Collect(std::span<const std::uint8_t, 64> binding) override {
    report_data.assign(binding.begin(), binding.end());
    return std::string("report");
  }
  std::vector<std::uint8_t> report_data;
};

TEST(SnpAttesterTest, ReportDataIsTheWholeBinding) {
  auto snp = std::make_unique<FakeSnp>();
  FakeSnp* fake = snp.get();
  SnpAttester attester(std::move(snp));
  const AttestationChallenge challenge = Challenge();
  absl::StatusOr<std::string> evidence = attester.Collect(challenge);
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  EXPECT_EQ(*evidence, "report");
  EXPECT_EQ(attester.type(), EvidenceType::kSevSnp);
  EXPECT_EQ(fake->report_data,
            std::vector<std::uint8_t>(challenge.binding.begin(), challenge.binding.end()));
}

}  // namespace
}  // namespace cloak::kms::client
