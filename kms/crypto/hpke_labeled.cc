#include "kms/crypto/hpke_labeled.h"

#include <openssl/crypto.h>

#include <cstring>
#include <vector>

namespace cloak::kms {
namespace {

constexpr std::string_view kVersionLabel = "HPKE-v1";

// Appends `bytes` at `*cursor` and advances it.
void Put(std::uint8_t** cursor, std::span<const std::uint8_t> bytes) {
  if (!bytes.empty()) std::memcpy(*cursor, bytes.data(), bytes.size());
  *cursor += bytes.size();
}

std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

std::array<std::uint8_t, 5> KemSuiteId(std::uint16_t kem_id) {
  return {'K', 'E', 'M', static_cast<std::uint8_t>(kem_id >> 8),
          static_cast<std::uint8_t>(kem_id & 0xff)};
}

std::array<std::uint8_t, 10> HpkeSuiteId(std::uint16_t kem_id, std::uint16_t kdf_id,
                                         std::uint16_t aead_id) {
  return {'H',
          'P',
          'K',
          'E',
          static_cast<std::uint8_t>(kem_id >> 8),
          static_cast<std::uint8_t>(kem_id & 0xff),
          static_cast<std::uint8_t>(kdf_id >> 8),
          static_cast<std::uint8_t>(kdf_id & 0xff),
          static_cast<std::uint8_t>(aead_id >> 8),
          static_cast<std::uint8_t>(aead_id & 0xff)};
}

absl::StatusOr<SecretBytes> LabeledExtract(HkdfHash hash, std::span<const std::uint8_t> suite_id,
                                           std::span<const std::uint8_t> salt,
                                           std::string_view label,
                                           std::span<const std::uint8_t> ikm) {
  SecretBytes labeled_ikm(kVersionLabel.size() + suite_id.size() + label.size() + ikm.size());
  std::uint8_t* cursor = labeled_ikm.MutableSecretData();
  Put(&cursor, AsBytes(kVersionLabel));
  Put(&cursor, suite_id);
  Put(&cursor, AsBytes(label));
  Put(&cursor, ikm);
  return HkdfExtract(hash, salt, labeled_ikm.SecretSpan());
}

absl::StatusOr<SecretBytes> LabeledExpand(HkdfHash hash, std::span<const std::uint8_t> suite_id,
                                          std::span<const std::uint8_t> prk, std::string_view label,
                                          std::span<const std::uint8_t> info, std::size_t length) {
  if (length > 0xffff) return absl::InvalidArgumentError("LabeledExpand length above 65535");
  // The info carries public context (kem_context, key_schedule_context, exporter
  // context), so an ordinary buffer will do; it is still wiped after use.
  std::vector<std::uint8_t> labeled_info(2 + kVersionLabel.size() + suite_id.size() + label.size() +
                                         info.size());
  std::uint8_t* cursor = labeled_info.data();
  const std::uint8_t length_bytes[2] = {static_cast<std::uint8_t>(length >> 8),
                                        static_cast<std::uint8_t>(length & 0xff)};
  Put(&cursor, length_bytes);
  Put(&cursor, AsBytes(kVersionLabel));
  Put(&cursor, suite_id);
  Put(&cursor, AsBytes(label));
  Put(&cursor, info);
  absl::StatusOr<SecretBytes> okm = HkdfExpand(hash, prk, labeled_info, length);
  OPENSSL_cleanse(labeled_info.data(), labeled_info.size());
  return okm;
}

}  // namespace cloak::kms
