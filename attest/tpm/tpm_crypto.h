#pragma once

// OpenSSL operations on parsed TPM structures: digests, object names, public keys and
// signature checks. Pure functions, thread-safe.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/tpm/tpm_structures.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::attest::tpm {

using Sha256Digest = std::array<std::uint8_t, 32>;

// SHA-256 over the concatenation of `parts`.
Sha256Digest Sha256(std::initializer_list<std::span<const std::uint8_t>> parts);

// The TPM Name of an object: nameAlg (big-endian) || H_nameAlg(marshalled TPMT_PUBLIC).
// INVALID_ARGUMENT for a nameAlg other than SHA-256/384/512.
absl::StatusOr<std::vector<std::uint8_t>> TpmObjectName(std::uint16_t name_alg,
                                                        std::span<const std::uint8_t> public_area);

// Lower-case hex of SHA-256(marshalled TPMT_PUBLIC): how AKs and EKs are pinned.
std::string PublicFingerprint(std::span<const std::uint8_t> public_area);

// Lower-case hex of `bytes`.
std::string Hex(std::span<const std::uint8_t> bytes);

// The key of an RSA or ECC (P-256, P-384) TPMT_PUBLIC. UNAUTHENTICATED when the key
// material is not a valid key.
absl::StatusOr<kms::EvpPkeyPtr> PublicKeyFromTpmt(const TpmtPublic& key);

// Verifies `signature` by `key` (parsed from `key_public`) over SHA-256(`message`).
// Only SHA-256 signatures; ECDSA for ECC keys, RSASSA/RSAPSS for RSA keys.
// UNAUTHENTICATED when the signature does not verify or does not fit the key.
absl::Status VerifyTpmSignature(const TpmtPublic& key_public, EVP_PKEY* key,
                                const TpmtSignature& signature,
                                std::span<const std::uint8_t> message);

}  // namespace cloak::attest::tpm
