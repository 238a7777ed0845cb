#pragma once

// The TPM 2.0 structures a quote consists of, parsed strictly from untrusted bytes
// (TPM 2.0 Library, Part 2). Parsers accept exactly one encoding: every TPM2B within its
// bound, union selectors known, no trailing bytes. Failures are UNAUTHENTICATED and name
// the structure; they never include the input.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::attest::tpm {

// TPMS_PCR_SELECTION.
struct PcrSelection {
  std::uint16_t hash = 0;
  std::vector<std::uint8_t> select;  // bitmap, PCR n = bit (n % 8) of byte n / 8

  // The selected PCR indices, ascending.
  std::vector<std::uint32_t> Indices() const;
};

// TPMS_ATTEST whose attested union is TPMS_QUOTE_INFO.
struct TpmsAttestQuote {
  std::vector<std::uint8_t> qualified_signer;  // TPM2B_NAME buffer
  std::vector<std::uint8_t> extra_data;        // TPM2B_DATA buffer
  std::uint64_t clock = 0;
  std::uint32_t reset_count = 0;
  std::uint32_t restart_count = 0;
  bool safe = false;
  std::uint64_t firmware_version = 0;
  std::vector<PcrSelection> pcr_select;  // TPML_PCR_SELECTION
  std::vector<std::uint8_t> pcr_digest;  // TPM2B_DIGEST buffer
};

// TPMT_SIGNATURE for the schemes a verifier accepts: ECDSA, RSASSA, RSAPSS.
struct TpmtSignature {
  std::uint16_t sig_alg = 0;
  std::uint16_t hash = 0;
  std::vector<std::uint8_t> ecdsa_r;  // ECDSA only
  std::vector<std::uint8_t> ecdsa_s;
  std::vector<std::uint8_t> rsa_signature;  // RSASSA / RSAPSS only
};

// TPMT_SYM_DEF_OBJECT.
struct SymDefObject {
  std::uint16_t algorithm = 0;  // kAlgNull when none
  std::uint16_t key_bits = 0;
  std::uint16_t mode = 0;
};

// TPMT_PUBLIC for RSA and ECC keys.
struct TpmtPublic {
  std::uint16_t type = 0;  // kAlgRsa or kAlgEcc
  std::uint16_t name_alg = 0;
  std::uint32_t object_attributes = 0;
  std::vector<std::uint8_t> auth_policy;
  SymDefObject symmetric;
  std::uint16_t scheme = 0;       // kAlgNull when none
  std::uint16_t scheme_hash = 0;  // the scheme's hashAlg when it has one
  // RSA.
  std::uint16_t rsa_key_bits = 0;
  std::uint32_t rsa_exponent = 0;  // 0 means 65537
  std::vector<std::uint8_t> rsa_modulus;
  // ECC.
  std::uint16_t curve = 0;
  std::uint16_t kdf = 0;
  std::uint16_t kdf_hash = 0;
  std::vector<std::uint8_t> ecc_x;
  std::vector<std::uint8_t> ecc_y;
};

// Parses a marshalled TPMS_ATTEST (the buffer of a TPM2B_ATTEST). Only quotes
// (TPM_ST_ATTEST_QUOTE) are accepted.
absl::StatusOr<TpmsAttestQuote> ParseTpmsAttestQuote(std::span<const std::uint8_t> data);

// Parses a marshalled TPMT_SIGNATURE; only ECDSA, RSASSA and RSAPSS are accepted.
absl::StatusOr<TpmtSignature> ParseTpmtSignature(std::span<const std::uint8_t> data);

// Parses a marshalled TPMT_PUBLIC (the buffer of a TPM2B_PUBLIC); RSA and ECC only.
absl::StatusOr<TpmtPublic> ParseTpmtPublic(std::span<const std::uint8_t> data);

// Digest size of a TPM hash algorithm; 0 for one the verifier does not know.
std::size_t TpmDigestSize(std::uint16_t hash_alg);

}  // namespace cloak::attest::tpm
