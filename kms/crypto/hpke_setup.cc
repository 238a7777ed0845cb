#include "kms/crypto/hpke_setup.h"

#include "common/status.h"

namespace cloak::kms {

absl::StatusOr<HpkeSenderSetup> SetupBaseSender(const HpkeSuite& suite,
                                                std::span<const std::uint8_t> recipient_public_key,
                                                std::span<const std::uint8_t> info,
                                                const X25519KeyPair& ephemeral) {
  ASSIGN_OR_RETURN(KemEncapsulation encapsulation, X25519Encap(recipient_public_key, ephemeral));
  ASSIGN_OR_RETURN(HpkeKeySchedule schedule,
                   BaseModeKeySchedule(suite, encapsulation.shared_secret, info));
  return HpkeSenderSetup{encapsulation.enc, HpkeContext(suite, std::move(schedule))};
}

absl::StatusOr<HpkeContext> SetupBaseRecipient(const HpkeSuite& suite,
                                               std::span<const std::uint8_t> enc,
                                               const SecretBytes& recipient_private_key,
                                               std::span<const std::uint8_t> info) {
  ASSIGN_OR_RETURN(SecretBytes shared_secret, X25519Decap(enc, recipient_private_key));
  ASSIGN_OR_RETURN(HpkeKeySchedule schedule, BaseModeKeySchedule(suite, shared_secret, info));
  return HpkeContext(suite, std::move(schedule));
}

}  // namespace cloak::kms
