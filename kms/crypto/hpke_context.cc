#include "kms/crypto/hpke_context.h"

#include <openssl/crypto.h>

#include <limits>

#include "common/status.h"
#include "kms/crypto/hpke_labeled.h"

namespace cloak::kms {
namespace {

constexpr std::uint8_t kModeBase = 0x00;

std::uint16_t KdfId(HkdfHash hash) {
  return hash == HkdfHash::kSha256 ? kKdfHkdfSha256 : kKdfHkdfSha512;
}

std::uint16_t AeadId(AesGcmKeySize key_size) {
  return key_size == AesGcmKeySize::kAes128 ? kAeadAes128Gcm : kAeadAes256Gcm;
}

}  // namespace

std::array<std::uint8_t, 10> HpkeSuiteIdOf(const HpkeSuite& suite) {
  return HpkeSuiteId(kKemDhkemX25519HkdfSha256, KdfId(suite.kdf), AeadId(suite.aead));
}

absl::StatusOr<std::vector<std::uint8_t>> BaseModeKeyScheduleContext(
    const HpkeSuite& suite, std::span<const std::uint8_t> info) {
  const std::array<std::uint8_t, 10> suite_id = HpkeSuiteIdOf(suite);
  ASSIGN_OR_RETURN(SecretBytes psk_id_hash,
                   LabeledExtract(suite.kdf, suite_id, {}, "psk_id_hash", {}));
  ASSIGN_OR_RETURN(SecretBytes info_hash,
                   LabeledExtract(suite.kdf, suite_id, {}, "info_hash", info));
  std::vector<std::uint8_t> context;
  context.reserve(1 + psk_id_hash.size() + info_hash.size());
  context.push_back(kModeBase);
  context.insert(context.end(), psk_id_hash.SecretSpan().begin(), psk_id_hash.SecretSpan().end());
  context.insert(context.end(), info_hash.SecretSpan().begin(), info_hash.SecretSpan().end());
  return context;
}

absl::StatusOr<SecretBytes> BaseModeSecret(const HpkeSuite& suite,
                                           const SecretBytes& shared_secret) {
  if (shared_secret.empty()) return absl::InvalidArgumentError("HPKE shared secret is empty");
  return LabeledExtract(suite.kdf, HpkeSuiteIdOf(suite), shared_secret.SecretSpan(), "secret", {});
}

absl::StatusOr<HpkeKeySchedule> BaseModeKeySchedule(const HpkeSuite& suite,
                                                    const SecretBytes& shared_secret,
                                                    std::span<const std::uint8_t> info) {
  const std::array<std::uint8_t, 10> suite_id = HpkeSuiteIdOf(suite);
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> context, BaseModeKeyScheduleContext(suite, info));
  ASSIGN_OR_RETURN(SecretBytes secret, BaseModeSecret(suite, shared_secret));
  ASSIGN_OR_RETURN(SecretBytes key, LabeledExpand(suite.kdf, suite_id, secret.SecretSpan(), "key",
                                                  context, AesGcmKeyLength(suite.aead)));
  ASSIGN_OR_RETURN(SecretBytes base_nonce, LabeledExpand(suite.kdf, suite_id, secret.SecretSpan(),
                                                         "base_nonce", context, kAesGcmNonceSize));
  ASSIGN_OR_RETURN(SecretBytes exporter_secret,
                   LabeledExpand(suite.kdf, suite_id, secret.SecretSpan(), "exp", context,
                                 HkdfHashLength(suite.kdf)));
  return HpkeKeySchedule{std::move(key), std::move(base_nonce), std::move(exporter_secret)};
}

absl::Status HpkeContext::CheckSequence() const {
  // RFC 9180 allows up to 2^96 - 1 messages; a 64-bit counter stops well before.
  if (sequence_number_ == std::numeric_limits<std::uint64_t>::max()) {
    return absl::FailedPreconditionError("HPKE context has reached its message limit");
  }
  return absl::OkStatus();
}

std::array<std::uint8_t, kAesGcmNonceSize> HpkeContext::NextNonce() const {
  std::array<std::uint8_t, kAesGcmNonceSize> nonce{};
  const std::uint8_t* base = schedule_.base_nonce.SecretData();
  for (std::size_t i = 0; i < kAesGcmNonceSize; ++i) nonce[i] = base[i];
  // base_nonce XOR I2OSP(seq, Nn): the counter occupies the last eight bytes.
  for (std::size_t i = 0; i < 8; ++i) {
    nonce[kAesGcmNonceSize - 1 - i] ^= static_cast<std::uint8_t>(sequence_number_ >> (8 * i));
  }
  return nonce;
}

absl::StatusOr<std::vector<std::uint8_t>> HpkeContext::Seal(
    std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plaintext) {
  RETURN_IF_ERROR(CheckSequence());
  std::array<std::uint8_t, kAesGcmNonceSize> nonce = NextNonce();
  absl::StatusOr<std::vector<std::uint8_t>> sealed =
      AesGcmSeal(suite_.aead, schedule_.key.SecretSpan(), nonce, aad, plaintext);
  OPENSSL_cleanse(nonce.data(), nonce.size());
  if (sealed.ok()) ++sequence_number_;
  return sealed;
}

absl::StatusOr<SecretBytes> HpkeContext::Open(std::span<const std::uint8_t> aad,
                                              std::span<const std::uint8_t> ciphertext) {
  RETURN_IF_ERROR(CheckSequence());
  std::array<std::uint8_t, kAesGcmNonceSize> nonce = NextNonce();
  absl::StatusOr<SecretBytes> opened =
      AesGcmOpen(suite_.aead, schedule_.key.SecretSpan(), nonce, aad, ciphertext);
  OPENSSL_cleanse(nonce.data(), nonce.size());
  if (opened.ok()) ++sequence_number_;
  return opened;
}

absl::StatusOr<SecretBytes> HpkeContext::Export(std::span<const std::uint8_t> exporter_context,
                                                std::size_t length) const {
  return LabeledExpand(suite_.kdf, HpkeSuiteIdOf(suite_), schedule_.exporter_secret.SecretSpan(),
                       "sec", exporter_context, length);
}

}  // namespace cloak::kms
