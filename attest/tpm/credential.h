#pragma once

// Credential activation, verifier side (TPM 2.0 Library Part 1 §24 "Credential
// Protection", Part 3 TPM2_MakeCredential): a secret encrypted so that only the TPM
// holding the EK's private key can recover it, and only for an object with the AK's
// Name. A guest that returns the secret (TpmAttester::ActivateCredential) has proved
// the AK lives in the same TPM as the EK.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::attest::tpm {

struct MadeCredential {
  std::vector<std::uint8_t> credential_blob;   // TPM2B_ID_OBJECT buffer
  std::vector<std::uint8_t> encrypted_secret;  // TPM2B_ENCRYPTED_SECRET buffer
  SecretBytes expected_secret;                 // what ActivateCredential must return
};

// Makes a credential holding a fresh random 32-byte secret for the object named
// `ak_name` (TPM2B_NAME buffer), protected by `ek_public` (marshalled TPMT_PUBLIC of a
// restricted decryption key: RSA with OAEP, or ECC P-256/P-384 with ECDH; AES-CFB).
// INVALID_ARGUMENT when the EK is not such a key; INTERNAL on OpenSSL failure.
// Thread-safe.
absl::StatusOr<MadeCredential> MakeCredential(std::span<const std::uint8_t> ek_public,
                                              std::span<const std::uint8_t> ak_name);

// KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode HMAC. `label` without its
// terminating zero (added here). `bits` must be a multiple of 8. INVALID_ARGUMENT for an
// unknown hash.
absl::StatusOr<SecretBytes> Kdfa(std::uint16_t hash_alg, std::span<const std::uint8_t> key,
                                 std::string_view label, std::span<const std::uint8_t> context_u,
                                 std::span<const std::uint8_t> context_v, std::size_t bits);

// KDFe (Part 1 §11.4.10.3): SP 800-56A concatenation KDF over the shared secret `z`.
absl::StatusOr<SecretBytes> Kdfe(std::uint16_t hash_alg, std::span<const std::uint8_t> z,
                                 std::string_view label, std::span<const std::uint8_t> party_u,
                                 std::span<const std::uint8_t> party_v, std::size_t bits);

}  // namespace cloak::attest::tpm
