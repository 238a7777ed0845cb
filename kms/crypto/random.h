#pragma once

// Randomness for the key service. Key material (DEKs, KEKs) comes from OpenSSL's
// private DRBG, which OpenSSL keeps separate from the DRBG that produces public values
// such as nonces, so a leaked nonce stream says nothing about key bytes.

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

// DEK sizes: the LUKS2 volume key for aes-xts-plain64 (two 256-bit keys), and the
// same plus a 256-bit HMAC key when the volume uses hmac-sha256 integrity.
inline constexpr std::size_t kDekSize = 64;
inline constexpr std::size_t kDekSizeWithHmacIntegrity = 96;

// `size` bytes from the private DRBG straight into locked memory. INVALID_ARGUMENT for
// a size of 0 or above 4096; INTERNAL when the DRBG fails. Thread-safe.
absl::StatusOr<SecretBytes> RandomSecret(std::size_t size);

// A fresh data encryption key of `size` bytes (kDekSize or kDekSizeWithHmacIntegrity);
// INVALID_ARGUMENT for any other size, INTERNAL when the DRBG fails. Thread-safe.
absl::StatusOr<SecretBytes> GenerateDek(std::size_t size);

// Fills `out` from the public DRBG; for nonces and other values that are not secret.
// INTERNAL when the DRBG fails. Thread-safe.
absl::Status FillPublicRandom(std::span<std::uint8_t> out);

}  // namespace cloak::kms
