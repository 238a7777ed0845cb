#include "kms/crypto/aes_gcm.h"

#include "gtest/gtest.h"
#include "tests/kms/crypto/test_hex.h"

namespace cloak::kms {
namespace {

using kms_test::Hex;
using kms_test::ToHex;

// NIST GCM specification test case 14 (AES-256, 96-bit IV, empty aad, one block).
TEST(AesGcmTest, Aes256KnownAnswer) {
  const std::vector<std::uint8_t> key(32, 0), nonce(12, 0), plaintext(16, 0);
  absl::StatusOr<std::vector<std::uint8_t>> sealed =
      AesGcmSeal(AesGcmKeySize::kAes256, key, nonce, {}, plaintext);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(ToHex(*sealed), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(AesGcmTest, TamperingIsUnauthenticated) {
  const std::vector<std::uint8_t> key(32, 7), nonce(12, 1), aad = {1, 2, 3}, plaintext(40, 9);
  absl::StatusOr<std::vector<std::uint8_t>> sealed =
      AesGcmSeal(AesGcmKeySize::kAes256, key, nonce, aad, plaintext);
  ASSERT_TRUE(sealed.ok());
  absl::StatusOr<SecretBytes> opened = AesGcmOpen(AesGcmKeySize::kAes256, key, nonce, aad, *sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(ToHex(opened->SecretSpan()), ToHex(plaintext));

  std::vector<std::uint8_t> other_key = key;
  other_key[31] ^= 1;
  EXPECT_EQ(AesGcmOpen(AesGcmKeySize::kAes256, other_key, nonce, aad, *sealed).status().code(),
            absl::StatusCode::kUnauthenticated);
  const std::vector<std::uint8_t> other_aad = {1, 2, 4};
  EXPECT_EQ(AesGcmOpen(AesGcmKeySize::kAes256, key, nonce, other_aad, *sealed).status().code(),
            absl::StatusCode::kUnauthenticated);
  std::vector<std::uint8_t> bad_tag = *sealed;
  bad_tag.back() ^= 0x80;
  EXPECT_EQ(AesGcmOpen(AesGcmKeySize::kAes256, key, nonce, aad, bad_tag).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AesGcmTest, SizesAreChecked) {
  const std::vector<std::uint8_t> key16(16, 0), key32(32, 0), nonce(12, 0), short_nonce(8, 0);
  EXPECT_EQ(AesGcmSeal(AesGcmKeySize::kAes256, key16, nonce, {}, key16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmSeal(AesGcmKeySize::kAes128, key32, nonce, {}, key16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmSeal(AesGcmKeySize::kAes256, key32, short_nonce, {}, key16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmOpen(AesGcmKeySize::kAes256, key32, nonce, {},
                       std::span<const std::uint8_t>(key16).first(15))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloak::kms
