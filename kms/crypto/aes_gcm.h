#pragma once

// AES-GCM with a 96-bit nonce and a 128-bit tag, over OpenSSL's EVP interface. Used by
// HPKE (as its AEAD) and by KEK wrapping. Ciphertexts are ciphertext || tag.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

enum class AesGcmKeySize { kAes128, kAes256 };

inline constexpr std::size_t kAesGcmNonceSize = 12;
inline constexpr std::size_t kAesGcmTagSize = 16;

// The key length Nk in bytes (16 or 32).
std::size_t AesGcmKeyLength(AesGcmKeySize key_size);

// Encrypts `plaintext` under `key` and `nonce`, authenticating `aad`; returns
// ciphertext || tag. INVALID_ARGUMENT for a key or nonce of the wrong length; INTERNAL
// when OpenSSL fails. Thread-safe.
absl::StatusOr<std::vector<std::uint8_t>> AesGcmSeal(AesGcmKeySize key_size,
                                                     std::span<const std::uint8_t> key,
                                                     std::span<const std::uint8_t> nonce,
                                                     std::span<const std::uint8_t> aad,
                                                     std::span<const std::uint8_t> plaintext);

// Decrypts ciphertext || tag into locked memory. UNAUTHENTICATED when the tag does not
// verify (wrong key, nonce, aad, or altered ciphertext); INVALID_ARGUMENT for a key or
// nonce of the wrong length or a ciphertext shorter than the tag; INTERNAL when OpenSSL
// fails. Nothing of the plaintext survives a failed call. Thread-safe.
absl::StatusOr<SecretBytes> AesGcmOpen(AesGcmKeySize key_size, std::span<const std::uint8_t> key,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> aad,
                                       std::span<const std::uint8_t> ciphertext);

}  // namespace cloak::kms
