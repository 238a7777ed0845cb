#pragma once

// TpmCollector: TpmAttester over tss2-esys (the only code in attest/tpm that includes
// <tss2/...>).
//
// Keys. The EK is the TCG EK Credential Profile's RSA 2048 key (template L-1): taken from
// a persistent handle when one exists there, otherwise recreated as a primary key of the
// endorsement hierarchy from the template (the EPS makes it the same key every time).
// The AK is an ECC P-256 restricted signing key (ECDSA/SHA-256, fixedTPM, fixedParent,
// sensitiveDataOrigin, userWithAuth) created as a child of the EK, the arrangement
// TPM2_ActivateCredential is designed for: an AK the EK's TPM loaded under the EK is
// what a credential made for (EK, AK name) can be activated for. The AK is either
// transient (created at Create, flushed at destruction) or kept at a persistent handle.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/tpm/tpm_attester.h"

namespace cloak::attest::tpm {

struct TpmCollectorOptions {
  // SHA-256 PCRs to quote (0..23), quoted in ascending order.
  std::vector<std::uint32_t> pcrs = {0, 1, 2, 3, 4, 5, 6, 7};
  // Persistent handle of the EK (TCG's recommended RSA EK handle by default); when no
  // object is there the EK is recreated from the template.
  std::uint32_t ek_handle = 0x81010001;
  // Persistent handle of the AK; 0 for a transient AK.
  std::uint32_t ak_handle = 0;
  // With ak_handle set and nothing there: create the AK and persist it there
  // (TPM2_EvictControl, owner authorisation with an empty password). Without it, an
  // empty ak_handle is NOT_FOUND.
  bool persist_ak = false;
};

class TpmCollector final : public TpmAttester {
 public:
  // Opens the TPM through the TCTI `tcti_conf` ("device:/dev/tpmrm0" in a VM,
  // "swtpm:host=127.0.0.1,port=2321" for a swtpm socket) and sets up the EK and AK.
  // INVALID_ARGUMENT for bad options; UNAVAILABLE when the TCTI cannot be opened;
  // NOT_FOUND for an empty ak_handle without persist_ak; INTERNAL for TPM errors.
  static absl::StatusOr<std::unique_ptr<TpmCollector>> Create(const std::string& tcti_conf,
                                                              TpmCollectorOptions options);
  ~TpmCollector() override;
  TpmCollector(const TpmCollector&) = delete;
  TpmCollector& operator=(const TpmCollector&) = delete;

  absl::StatusOr<TpmQuoteEvidence> CollectQuote(
      std::span<const std::uint8_t> binding_input) override;
  absl::StatusOr<std::vector<std::uint8_t>> Collect(
      std::span<const std::uint8_t> binding_input) override;
  absl::StatusOr<SecretBytes> ActivateCredential(
      std::span<const std::uint8_t> credential_blob,
      std::span<const std::uint8_t> encrypted_secret) override;
  const std::vector<std::uint8_t>& AkPublic() const override { return ak_public_; }
  const std::vector<std::uint8_t>& EkPublic() const override { return ek_public_; }
  const std::vector<std::uint8_t>& EkCertificate() const override { return ek_certificate_; }

 private:
  struct Handles;
  TpmCollector(TpmCollectorOptions options, std::unique_ptr<Handles> handles);

  absl::Status SetUpKeys();
  absl::StatusOr<TpmQuoteEvidence> QuoteOnce(std::span<const std::uint8_t, 32> extra_data,
                                             bool& pcrs_changed);

  const TpmCollectorOptions options_;
  std::unique_ptr<Handles> handles_;  // TCTI, ESYS context, key handles
  std::vector<std::uint8_t> ak_public_;
  std::vector<std::uint8_t> ek_public_;
  std::vector<std::uint8_t> ek_certificate_;
};

}  // namespace cloak::attest::tpm
