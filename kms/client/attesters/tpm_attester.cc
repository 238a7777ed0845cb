#include "kms/client/attesters/tpm_attester.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <string_view>

#include "absl/status/status.h"
#include "common/status.h"

namespace cloak::kms::client {
namespace {
constexpr std::string_view kBindingLabel = "cloak-attest-v1";  // DESIGN §6
}  // namespace

std::vector<std::uint8_t> TpmBindingInput(const AttestationChallenge& challenge) {
  std::vector<std::uint8_t> input(kBindingLabel.begin(), kBindingLabel.end());
  input.insert(input.end(), challenge.nonce.begin(), challenge.nonce.end());
  input.insert(input.end(), challenge.ephemeral_public_key.begin(),
               challenge.ephemeral_public_key.end());
  return input;
}

absl::StatusOr<std::unique_ptr<TpmAttester>> TpmAttester::Open(
    const std::string& tcti_conf, attest::tpm::TpmCollectorOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<attest::tpm::TpmCollector> collector,
                   attest::tpm::TpmCollector::Create(tcti_conf, std::move(options)));
  return std::make_unique<TpmAttester>(std::move(collector));
}

absl::StatusOr<std::string> TpmAttester::Collect(const AttestationChallenge& challenge) {
  const std::vector<std::uint8_t> input = TpmBindingInput(challenge);
  // The quote carries SHA-256(input); refuse a challenge whose extraData is another value
  // rather than collect evidence the key service would refuse.
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(input.data(), input.size(), digest.data());
  if (!ConstantTimeEquals(digest, challenge.tpm_extra_data)) {
    return absl::InvalidArgumentError(
        "tpm attester: the challenge's tpm_extra_data is not SHA-256(\"cloak-attest-v1\" || "
        "nonce || ephemeral key); build it with AttestationChallenge::For");
  }
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> evidence, tpm_->Collect(input));
  return std::string(evidence.begin(), evidence.end());
}

absl::Status TpmAttester::Enroll(EnrollmentChannel& channel) {
  const std::vector<std::uint8_t>& certificate = tpm_->EkCertificate();
  if (certificate.empty()) return absl::OkStatus();
  v1::BeginAkEnrollmentRequest begin;
  begin.set_ak_public(std::string(tpm_->AkPublic().begin(), tpm_->AkPublic().end()));
  begin.set_ek_public(std::string(tpm_->EkPublic().begin(), tpm_->EkPublic().end()));
  begin.set_ek_certificate(std::string(certificate.begin(), certificate.end()));
  ASSIGN_OR_RETURN(v1::BeginAkEnrollmentResponse offer, channel.BeginAkEnrollment(begin));
  const auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  absl::StatusOr<SecretBytes> secret =
      tpm_->ActivateCredential(bytes(offer.credential_blob()), bytes(offer.encrypted_secret()));
  if (!secret.ok()) {
    return Annotate(secret.status(), "activating the key service's AK enrollment credential");
  }
  v1::CompleteAkEnrollmentRequest complete;
  complete.set_enrollment_id(offer.enrollment_id());
  complete.mutable_secret()->assign(reinterpret_cast<const char*>(secret->SecretData()),
                                    secret->size());
  absl::StatusOr<v1::CompleteAkEnrollmentResponse> done = channel.CompleteAkEnrollment(complete);
  OPENSSL_cleanse(complete.mutable_secret()->data(), complete.secret().size());
  return done.status();
}

}  // namespace cloak::kms::client
