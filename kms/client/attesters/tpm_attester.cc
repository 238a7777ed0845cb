#include "kms/client/attesters/tpm_attester.h"

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

}  // namespace cloak::kms::client
