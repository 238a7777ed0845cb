#pragma once

// Sealed key release: RFC 9180 HPKE in base mode with Cloak's one suite,
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM (kem 0x0020, kdf 0x0001,
// aead 0x0002). The key service seals a DEK to the attested node's ephemeral public
// key; only the node, holding the private key, can open it. Single-shot: one message
// per encapsulation (sequence number 0). docs/kms-crypto.md describes the info and aad
// that Cloak binds in.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/dhkem_x25519.h"

namespace cloak::kms {

using HpkeKeyPair = X25519KeyPair;

struct HpkeSealed {
  std::vector<std::uint8_t> enc;         // 32 bytes: the encapsulated key
  std::vector<std::uint8_t> ciphertext;  // plaintext size + 16 bytes
};

// A fresh recipient key pair (the node's ephemeral key). INTERNAL when OpenSSL fails.
// Thread-safe.
absl::StatusOr<HpkeKeyPair> HpkeGenerateKeyPair();

// Seals `plaintext` to `recipient_public_key`, binding `info` (through the key schedule)
// and `aad` (through the AEAD). INVALID_ARGUMENT for a public key that is not 32 bytes
// or is a low-order point, or an empty plaintext; INTERNAL when OpenSSL fails.
// Thread-safe.
absl::StatusOr<HpkeSealed> HpkeSeal(std::span<const std::uint8_t> recipient_public_key,
                                    std::span<const std::uint8_t> info,
                                    std::span<const std::uint8_t> aad,
                                    const SecretBytes& plaintext);

// Opens what HpkeSeal produced. UNAUTHENTICATED when the ciphertext, enc, info or aad
// were altered or the private key is the wrong one; INVALID_ARGUMENT for inputs of the
// wrong size or an enc that is a low-order point; INTERNAL when OpenSSL fails.
// Thread-safe.
absl::StatusOr<SecretBytes> HpkeOpen(const SecretBytes& recipient_private_key,
                                     std::span<const std::uint8_t> enc,
                                     std::span<const std::uint8_t> info,
                                     std::span<const std::uint8_t> aad,
                                     std::span<const std::uint8_t> ciphertext);

}  // namespace cloak::kms
