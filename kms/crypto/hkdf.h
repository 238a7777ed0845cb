#pragma once

// HKDF (RFC 5869) split into its two steps, over OpenSSL's HMAC. Outputs are
// SecretBytes because every use in the key service derives key material.

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

enum class HkdfHash { kSha256, kSha512 };

// The digest length Nh of `hash` in bytes (32 or 64).
std::size_t HkdfHashLength(HkdfHash hash);

// HKDF-Extract(salt, ikm): a pseudorandom key of HkdfHashLength(hash) bytes. An empty
// salt means HashLen zero bytes, as in RFC 5869. INVALID_ARGUMENT for an empty `ikm`;
// INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<SecretBytes> HkdfExtract(HkdfHash hash, std::span<const std::uint8_t> salt,
                                        std::span<const std::uint8_t> ikm);

// HKDF-Expand(prk, info, length). INVALID_ARGUMENT when `prk` is shorter than the digest
// or `length` is 0 or above 255 * HashLen; INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<SecretBytes> HkdfExpand(HkdfHash hash, std::span<const std::uint8_t> prk,
                                       std::span<const std::uint8_t> info, std::size_t length);

}  // namespace cloak::kms
