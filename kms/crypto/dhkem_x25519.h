#pragma once

// DHKEM(X25519, HKDF-SHA256), RFC 9180 §4.1 and §7.1, over OpenSSL's EVP_PKEY X25519.
// Private keys live only in SecretBytes and in OpenSSL key objects that OpenSSL wipes
// when it frees them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

inline constexpr std::size_t kX25519KeySize = 32;  // Nsk = Npk = Nenc = Nsecret = 32

using X25519PublicKey = std::array<std::uint8_t, kX25519KeySize>;

struct X25519KeyPair {
  SecretBytes private_key;  // 32 bytes
  X25519PublicKey public_key;
};

struct KemEncapsulation {
  SecretBytes shared_secret;  // 32 bytes
  X25519PublicKey enc;        // the sender's ephemeral public key
};

// A fresh key pair from OpenSSL's private DRBG. INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair();

// DeriveKeyPair(ikm) of RFC 9180 §7.1.3 for X25519: deterministic, for test vectors and
// for keys derived from a seed. INVALID_ARGUMENT when `ikm` is shorter than 32 bytes;
// INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<X25519KeyPair> DeriveX25519KeyPair(std::span<const std::uint8_t> ikm);

// The public key that belongs to `private_key`. INVALID_ARGUMENT for a key that is not
// 32 bytes; INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<X25519PublicKey> X25519PublicKeyOf(const SecretBytes& private_key);

// Encap(pkR) with the ephemeral key pair `ephemeral` (a fresh one for every message;
// tests pass the vectors' derived pair). INVALID_ARGUMENT when `recipient_public_key`
// is not 32 bytes or is a low-order point (the DH result is all zero). Thread-safe.
absl::StatusOr<KemEncapsulation> X25519Encap(std::span<const std::uint8_t> recipient_public_key,
                                             const X25519KeyPair& ephemeral);

// Decap(enc, skR). INVALID_ARGUMENT when `enc` is not 32 bytes or is a low-order point,
// or when `recipient_private_key` is not 32 bytes. Thread-safe.
absl::StatusOr<SecretBytes> X25519Decap(std::span<const std::uint8_t> enc,
                                        const SecretBytes& recipient_private_key);

}  // namespace cloak::kms
