#pragma once

// TpmAttester: the guest's TPM, as the node needs it for attestation (DESIGN §6). The
// real implementation (TpmCollector) talks to the TPM through tss2-esys; tests may use a
// fake. Nothing an implementation returns is secret except ActivateCredential's result.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/tpm/tpm_evidence.h"
#include "common/secret_bytes.h"

namespace cloak::attest::tpm {

class TpmAttester {
 public:
  virtual ~TpmAttester() = default;

  // Quotes the configured SHA-256 PCRs with qualifyingData = SHA-256(`binding_input`)
  // and returns the quote, the PCR values it covers, the AK public, and the EK public and
  // certificate when present. Not thread-safe (one TPM context). UNAVAILABLE when the
  // TPM does not answer; ABORTED when the PCRs kept changing during collection; INTERNAL
  // for other TPM errors.
  virtual absl::StatusOr<TpmQuoteEvidence> CollectQuote(
      std::span<const std::uint8_t> binding_input) = 0;

  // CollectQuote, serialised as a TpmEvidence message (attest/proto/evidence.proto).
  // Same contract.
  virtual absl::StatusOr<std::vector<std::uint8_t>> Collect(
      std::span<const std::uint8_t> binding_input) = 0;

  // Recovers the secret of a credential made for this TPM's EK and AK (MakeCredential),
  // through TPM2_ActivateCredential. Not thread-safe. PERMISSION_DENIED when the TPM
  // refuses the credential (another EK or AK, or a tampered blob); INVALID_ARGUMENT for
  // blobs of impossible size.
  virtual absl::StatusOr<SecretBytes> ActivateCredential(
      std::span<const std::uint8_t> credential_blob,
      std::span<const std::uint8_t> encrypted_secret) = 0;

  // The AK's marshalled TPMT_PUBLIC. Thread-safe.
  virtual const std::vector<std::uint8_t>& AkPublic() const = 0;
  // The EK's marshalled TPMT_PUBLIC. Thread-safe.
  virtual const std::vector<std::uint8_t>& EkPublic() const = 0;
  // The EK's DER certificate from the TPM's NV index; empty when it has none. Thread-safe.
  virtual const std::vector<std::uint8_t>& EkCertificate() const = 0;
};

}  // namespace cloak::attest::tpm
