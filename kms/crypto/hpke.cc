#include "kms/crypto/hpke.h"

#include "common/status.h"
#include "kms/crypto/hpke_setup.h"

namespace cloak::kms {

absl::StatusOr<HpkeKeyPair> HpkeGenerateKeyPair() { return GenerateX25519KeyPair(); }

absl::StatusOr<HpkeSealed> HpkeSeal(std::span<const std::uint8_t> recipient_public_key,
                                    std::span<const std::uint8_t> info,
                                    std::span<const std::uint8_t> aad,
                                    const SecretBytes& plaintext) {
  if (plaintext.empty()) return absl::InvalidArgumentError("HPKE plaintext is empty");
  ASSIGN_OR_RETURN(X25519KeyPair ephemeral, GenerateX25519KeyPair());
  ASSIGN_OR_RETURN(HpkeSenderSetup setup,
                   SetupBaseSender(kCloakHpkeSuite, recipient_public_key, info, ephemeral));
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> ciphertext,
                   setup.context.Seal(aad, plaintext.SecretSpan()));
  return HpkeSealed{std::vector<std::uint8_t>(setup.enc.begin(), setup.enc.end()),
                    std::move(ciphertext)};
}

absl::StatusOr<SecretBytes> HpkeOpen(const SecretBytes& recipient_private_key,
                                     std::span<const std::uint8_t> enc,
                                     std::span<const std::uint8_t> info,
                                     std::span<const std::uint8_t> aad,
                                     std::span<const std::uint8_t> ciphertext) {
  ASSIGN_OR_RETURN(HpkeContext context,
                   SetupBaseRecipient(kCloakHpkeSuite, enc, recipient_private_key, info));
  return context.Open(aad, ciphertext);
}

}  // namespace cloak::kms
