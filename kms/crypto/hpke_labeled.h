#pragma once

// RFC 9180 §4: LabeledExtract and LabeledExpand, the domain-separated HKDF calls that
// every HPKE derivation goes through, and the suite identifiers that separate them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/hkdf.h"

namespace cloak::kms {

// Algorithm identifiers from the RFC 9180 registries.
inline constexpr std::uint16_t kKemDhkemX25519HkdfSha256 = 0x0020;
inline constexpr std::uint16_t kKdfHkdfSha256 = 0x0001;
inline constexpr std::uint16_t kKdfHkdfSha512 = 0x0003;
inline constexpr std::uint16_t kAeadAes128Gcm = 0x0001;
inline constexpr std::uint16_t kAeadAes256Gcm = 0x0002;

// "KEM" || I2OSP(kem_id, 2): the suite_id of the KEM's own derivations (§4.1).
std::array<std::uint8_t, 5> KemSuiteId(std::uint16_t kem_id);

// "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2) (§5.1).
std::array<std::uint8_t, 10> HpkeSuiteId(std::uint16_t kem_id, std::uint16_t kdf_id,
                                         std::uint16_t aead_id);

// Extract(salt, "HPKE-v1" || suite_id || label || ikm). The labeled input is built in
// locked memory because `ikm` is usually secret. Errors as HkdfExtract.
absl::StatusOr<SecretBytes> LabeledExtract(HkdfHash hash, std::span<const std::uint8_t> suite_id,
                                           std::span<const std::uint8_t> salt,
                                           std::string_view label,
                                           std::span<const std::uint8_t> ikm);

// Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L). Errors as
// HkdfExpand, plus INVALID_ARGUMENT for L above 65535.
absl::StatusOr<SecretBytes> LabeledExpand(HkdfHash hash, std::span<const std::uint8_t> suite_id,
                                          std::span<const std::uint8_t> prk, std::string_view label,
                                          std::span<const std::uint8_t> info, std::size_t length);

}  // namespace cloak::kms
