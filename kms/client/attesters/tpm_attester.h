#pragma once

// TpmAttester: the Attester of a (v)TPM 2.0 guest. It hands attest/tpm's TpmAttester
// (TpmCollector in production) the binding input "cloak-attest-v1" ‖ nonce ‖ ephemeral
// public key, whose SHA-256 the quote carries as extraData and the key service expects
// as challenge.tpm_extra_data (docs/attest-tpm.md). Target cloak::kms_client_tpm, the
// only part of the client that links the TSS.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/tpm/tpm_attester.h"
#include "attest/tpm/tpm_collector.h"
#include "kms/client/attester.h"

namespace cloak::kms::client {

class TpmAttester final : public Attester {
 public:
  explicit TpmAttester(std::unique_ptr<attest::tpm::TpmAttester> tpm) : tpm_(std::move(tpm)) {}

  // A TpmCollector on `tcti_conf` ("device:/dev/tpmrm0" in a guest) with `options`
  // (persist the AK at a handle so that the key service can pin it). TpmCollector's codes.
  static absl::StatusOr<std::unique_ptr<TpmAttester>> Open(
      const std::string& tcti_conf, attest::tpm::TpmCollectorOptions options);

  EvidenceType type() const override { return EvidenceType::kTpm; }
  // A TpmEvidence message (quote, PCR values, AK and EK). INVALID_ARGUMENT when the
  // challenge's tpm_extra_data is not the SHA-256 of its nonce and key; the TPM's codes
  // otherwise (UNAVAILABLE, ABORTED, INTERNAL).
  absl::StatusOr<std::string> Collect(const AttestationChallenge& challenge) override;
  // With an EK certificate in the TPM: BeginAkEnrollment with the AK, the EK and its
  // certificate, TPM2_ActivateCredential on the answer, CompleteAkEnrollment with the
  // recovered secret (wiped from every buffer after the call). Without one there is
  // nothing to prove (OK; the policy must pin the AK). The service's codes, and the TPM's
  // (PERMISSION_DENIED when it refuses the credential).
  absl::Status Enroll(EnrollmentChannel& channel) override;

  // The AK's marshalled TPMT_PUBLIC, whose SHA-256 is the fingerprint a policy pins.
  const std::vector<std::uint8_t>& AkPublic() const { return tpm_->AkPublic(); }

 private:
  const std::unique_ptr<attest::tpm::TpmAttester> tpm_;
};

// "cloak-attest-v1" ‖ nonce ‖ ephemeral public key: what TPM2_Quote's qualifyingData is
// the SHA-256 of. Thread-safe.
std::vector<std::uint8_t> TpmBindingInput(const AttestationChallenge& challenge);

}  // namespace cloak::kms::client
