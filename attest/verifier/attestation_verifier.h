#pragma once

// AttestationVerifier: the key service's EvidenceVerifier (kms/service/evidence_verifier.h)
// for real evidence. It checks authenticity with the verifier of the evidence's kind —
// attest/snp for SEV-SNP reports, attest/tpm for TPM 2.0 quotes — against the Attest
// request's challenge, then judges the verified claims by the attestation policy in force
// (attest/policy). The first matching rule names the guest: "<role>/<rule>@<16 hex>".
//
// TPM attestation keys are trusted when the policy pins them (tpm.trusted_aks), or, with
// tpm.allow_ek_ca, through an EK certificate chaining to a configured EK CA and an AK
// bound to that EK. NONE evidence is accepted only with the insecure development flag and
// then names whatever identity the caller claims.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "attest/snp/verifier.h"
#include "attest/tpm/tpm_verifier.h"
#include "attest/verifier/ak_bindings.h"
#include "attest/verifier/policy_source.h"
#include "kms/service/evidence_verifier.h"
#include "kms/store/clock.h"

namespace cloak::attest {

struct AttestationVerifierOptions {
  // SEV-SNP: the AMD roots and VCEK cache to verify with; null refuses SEV-SNP evidence.
  std::shared_ptr<const snp::SnpVerifier> snp;
  // TPM: PEM certificates EK certificates must chain to (used when the policy allows it).
  std::vector<std::string> tpm_ek_ca_pem;
  bool insecure_allow_unattested = false;
  PolicySource* policy = nullptr;  // must outlive the verifier
  // AKs bound to EKs by enrollment (ak_enrollment.h), consulted with tpm.allow_ek_ca;
  // null: only pinned AKs are trusted. Must outlive the verifier.
  AkBindingSource* ak_bindings = nullptr;
  const kms::Clock* clock = nullptr;  // must outlive the verifier
};

class AttestationVerifier final : public kms::EvidenceVerifier {
 public:
  // INVALID_ARGUMENT when the policy source or the clock is missing, or an EK CA
  // certificate does not parse.
  static absl::StatusOr<std::unique_ptr<AttestationVerifier>> Create(
      AttestationVerifierOptions options);

  // See EvidenceVerifier. PERMISSION_DENIED also when no attestation policy is set, and
  // naming the policy check that refused; UNAVAILABLE when the policy cannot be read.
  absl::StatusOr<kms::Claims> Verify(kms::EvidenceType type, std::span<const std::uint8_t> evidence,
                                     const kms::AttestationChallenge& challenge) override;

  // The evidence types this verifier can accept ("tpm", "sev-snp", "none"), for Health.
  std::vector<std::string> AcceptedTypes() const;

 private:
  explicit AttestationVerifier(AttestationVerifierOptions options)
      : options_(std::move(options)), none_(options_.insecure_allow_unattested) {}

  absl::StatusOr<kms::Claims> VerifySnp(std::span<const std::uint8_t> evidence,
                                        const kms::AttestationChallenge& challenge,
                                        const LoadedPolicy& policy);
  absl::StatusOr<kms::Claims> VerifyTpm(std::span<const std::uint8_t> evidence,
                                        const kms::AttestationChallenge& challenge,
                                        const LoadedPolicy& policy);
  // The quote verifier for this policy version's trusted AKs and, with tpm.allow_ek_ca,
  // the AK bindings in force (built once per pair of versions).
  absl::StatusOr<std::shared_ptr<const tpm::TpmQuoteVerifier>> TpmVerifierFor(
      const LoadedPolicy& policy);

  const AttestationVerifierOptions options_;
  kms::NoneVerifier none_;
  std::mutex tpm_mutex_;
  std::int64_t tpm_policy_version_ = -1;
  std::int64_t tpm_bindings_version_ = -1;
  std::shared_ptr<const tpm::TpmQuoteVerifier> tpm_verifier_;
};

}  // namespace cloak::attest
