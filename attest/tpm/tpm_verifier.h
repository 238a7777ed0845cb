#pragma once

// TpmQuoteVerifier: the key service's check of a TPM 2.0 quote (DESIGN §6). Pure
// computation over untrusted bytes with OpenSSL; no TSS. A quote is accepted when
//   - TPMS_ATTEST, TPMT_SIGNATURE and the AK's TPMT_PUBLIC parse strictly;
//   - the AK is a restricted, fixedTPM/fixedParent, TPM-generated SHA-256 signing key
//     that cannot decrypt, and qualifiedSigner is its Qualified Name (TPM 2.0 Part 1 §16:
//     the TPM reports the qualified name, not the Name, so it is recomputed for an AK
//     that is a primary key of the endorsement or owner hierarchy, or a child of the
//     reported EK);
//   - the AK is trusted: pinned by fingerprint, or bound by credential activation to an
//     EK whose certificate chains to a configured CA;
//   - the signature verifies over SHA-256(TPMS_ATTEST);
//   - extraData equals the expected 32 bytes (full length, constant time);
//   - only the SHA-256 bank is quoted, the reported PCRs are exactly the selection, and
//     pcrDigest is SHA-256 over their values in selection order.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/claims.h"
#include "attest/tpm/tpm_evidence.h"

typedef struct x509_store_st X509_STORE;

namespace cloak::attest::tpm {

inline constexpr std::size_t kExtraDataSize = 32;

// SHA-256("cloak-attest-v1" || nonce || ephemeral_public_key): the extraData of a quote,
// the TPM counterpart of kms::ComputeBinding. Thread-safe.
std::array<std::uint8_t, kExtraDataSize> ComputeTpmExtraData(
    std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> ephemeral_public_key);

struct TpmTrustConfig {
  // Lower-case hex SHA-256 fingerprints of marshalled AK TPMT_PUBLICs.
  std::set<std::string> pinned_ak_fingerprints;
  // PEM certificates (roots and intermediates) EK certificates must chain to.
  std::vector<std::string> ek_ca_certificates_pem;
  // AK fingerprint -> fingerprint of the EK TPMT_PUBLIC the AK proved, by credential
  // activation, to share a TPM with. Only consulted for AKs that are not pinned.
  std::map<std::string, std::string> ek_bound_aks;
};

// Name and fingerprint of an attestation key that passed ValidateAttestationKey.
struct AttestationKeyInfo {
  std::vector<std::uint8_t> name;  // TPM2B_NAME buffer: nameAlg || SHA-256(TPMT_PUBLIC)
  std::string fingerprint;         // hex SHA-256(TPMT_PUBLIC)
};

// Checks that `ak_public` (a marshalled TPMT_PUBLIC) is an acceptable attestation key:
// ECC P-256 with ECDSA/SHA-256 (or RSA 2048+ with RSASSA/RSAPSS, SHA-256), nameAlg
// SHA-256, restricted|sign|fixedTPM|fixedParent|sensitiveDataOrigin, no decrypt.
// UNAUTHENTICATED naming the reason. Thread-safe.
absl::StatusOr<AttestationKeyInfo> ValidateAttestationKey(std::span<const std::uint8_t> ak_public);

class TpmQuoteVerifier {
 public:
  // INVALID_ARGUMENT when a CA certificate does not parse or a fingerprint is not 64
  // lower-case hex digits.
  static absl::StatusOr<std::unique_ptr<TpmQuoteVerifier>> Create(TpmTrustConfig config);
  ~TpmQuoteVerifier();
  TpmQuoteVerifier(const TpmQuoteVerifier&) = delete;
  TpmQuoteVerifier& operator=(const TpmQuoteVerifier&) = delete;

  // Verifies `evidence` against `expected_extra_data` (see the file comment). Thread-safe.
  // UNAUTHENTICATED when malformed, not authentic, bound to something else, or signed by
  // an AK that is not trusted (the message names its fingerprint).
  absl::StatusOr<TpmClaims> Verify(
      const TpmQuoteEvidence& evidence,
      std::span<const std::uint8_t, kExtraDataSize> expected_extra_data) const;

 private:
  TpmQuoteVerifier(TpmTrustConfig config, X509_STORE* store)
      : config_(std::move(config)), store_(store) {}

  // Fills claims.ak_trust / ek_subject, or UNAUTHENTICATED naming the fingerprint.
  absl::Status CheckAkTrust(const TpmQuoteEvidence& evidence, const std::string& ak_fingerprint,
                            TpmClaims& claims) const;

  const TpmTrustConfig config_;
  X509_STORE* const store_;  // owned; null when no EK CA is configured
};

}  // namespace cloak::attest::tpm
