#pragma once

// SetupBaseS / SetupBaseR of RFC 9180 §5.1.1: the KEM step plus the key schedule,
// producing an HpkeContext. The suite is a parameter (see hpke_context.h); Cloak's code
// goes through hpke.h, which fixes it to kCloakHpkeSuite.

#include <span>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/dhkem_x25519.h"
#include "kms/crypto/hpke_context.h"

namespace cloak::kms {

struct HpkeSenderSetup {
  X25519PublicKey enc;
  HpkeContext context;
};

// Sender side with the given ephemeral key pair (fresh for every setup; the vectors
// pass a derived one). INVALID_ARGUMENT for a malformed or low-order recipient public
// key; INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<HpkeSenderSetup> SetupBaseSender(const HpkeSuite& suite,
                                                std::span<const std::uint8_t> recipient_public_key,
                                                std::span<const std::uint8_t> info,
                                                const X25519KeyPair& ephemeral);

// Recipient side. INVALID_ARGUMENT for a malformed or low-order `enc` or a private key
// that is not 32 bytes; INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<HpkeContext> SetupBaseRecipient(const HpkeSuite& suite,
                                               std::span<const std::uint8_t> enc,
                                               const SecretBytes& recipient_private_key,
                                               std::span<const std::uint8_t> info);

}  // namespace cloak::kms
