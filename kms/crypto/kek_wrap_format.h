#pragma once

// The wrapped-key format shared by software KEK providers (all integers big-endian):
//
//   offset  size  field
//   0       1     format version, 0x01
//   1       4     KEK version
//   5       12    nonce (random, from the public DRBG)
//   17      n     AES-256-GCM ciphertext of the n-byte key
//   17+n    16    GCM tag
//
// The GCM associated data is bytes 0..4 of the blob followed by the caller's aad, so
// the header is authenticated too.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

inline constexpr std::uint8_t kWrapFormatVersion = 0x01;
inline constexpr std::size_t kWrapHeaderSize = 5;
inline constexpr std::size_t kKekSize = 32;

// Wraps `plaintext` under the 32-byte `kek`. INVALID_ARGUMENT for an empty plaintext or
// a KEK that is not 32 bytes; INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<std::vector<std::uint8_t>> WrapWithKek(const SecretBytes& kek,
                                                      std::uint32_t kek_version,
                                                      const SecretBytes& plaintext,
                                                      std::span<const std::uint8_t> aad);

// The KEK version a blob names. INVALID_ARGUMENT when the blob is too short or has an
// unknown format version. Thread-safe.
absl::StatusOr<std::uint32_t> WrappedKekVersion(std::span<const std::uint8_t> wrapped);

// Unwraps a blob made by WrapWithKek. UNAUTHENTICATED when the blob or aad were altered
// or `kek` is the wrong key; INVALID_ARGUMENT for a malformed blob. Thread-safe.
absl::StatusOr<SecretBytes> UnwrapWithKek(const SecretBytes& kek,
                                          std::span<const std::uint8_t> wrapped,
                                          std::span<const std::uint8_t> aad);

}  // namespace cloak::kms
