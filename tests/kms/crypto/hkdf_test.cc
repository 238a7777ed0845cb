#include "kms/crypto/hkdf.h"

#include "gtest/gtest.h"
#include "tests/kms/crypto/test_hex.h"

namespace cloak::kms {
namespace {

using kms_test::Hex;
using kms_test::ToHex;

// RFC 5869 Appendix A.1 (HKDF-SHA256, basic test case).
TEST(HkdfTest, Rfc5869TestCase1) {
  const std::vector<std::uint8_t> ikm = Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  const std::vector<std::uint8_t> salt = Hex("000102030405060708090a0b0c");
  const std::vector<std::uint8_t> info = Hex("f0f1f2f3f4f5f6f7f8f9");
  absl::StatusOr<SecretBytes> prk = HkdfExtract(HkdfHash::kSha256, salt, ikm);
  ASSERT_TRUE(prk.ok()) << prk.status();
  EXPECT_EQ(ToHex(prk->SecretSpan()),
            "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  absl::StatusOr<SecretBytes> okm = HkdfExpand(HkdfHash::kSha256, prk->SecretSpan(), info, 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(ToHex(okm->SecretSpan()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

std::vector<std::uint8_t> Range(int from, int to) {
  std::vector<std::uint8_t> bytes;
  for (int b = from; b < to; ++b) bytes.push_back(static_cast<std::uint8_t>(b));
  return bytes;
}

// RFC 5869 Appendix A.2: 80-byte inputs and an 82-byte output (three HMAC blocks).
TEST(HkdfTest, Rfc5869TestCase2LongInputsAndOutput) {
  absl::StatusOr<SecretBytes> prk =
      HkdfExtract(HkdfHash::kSha256, Range(0x60, 0xb0), Range(0x00, 0x50));
  ASSERT_TRUE(prk.ok()) << prk.status();
  EXPECT_EQ(ToHex(prk->SecretSpan()),
            "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244");
  absl::StatusOr<SecretBytes> okm =
      HkdfExpand(HkdfHash::kSha256, prk->SecretSpan(), Range(0xb0, 0x100), 82);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(ToHex(okm->SecretSpan()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

// HKDF-SHA512 over the same inputs, 130 bytes (three blocks, the last one partial); the
// expected value is OpenSSL's own HKDF (`openssl kdf -keylen 130 -kdfopt digest:SHA512
// ... HKDF`).
TEST(HkdfTest, Sha512MultiBlockMatchesOpenSslsHkdf) {
  absl::StatusOr<SecretBytes> prk =
      HkdfExtract(HkdfHash::kSha512, Range(0x60, 0xb0), Range(0x00, 0x50));
  ASSERT_TRUE(prk.ok()) << prk.status();
  absl::StatusOr<SecretBytes> okm =
      HkdfExpand(HkdfHash::kSha512, prk->SecretSpan(), Range(0xb0, 0x100), 130);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(ToHex(okm->SecretSpan()),
            "ce6c97192805b346e6161e821ed165673b84f400a2b514b2fe23d84cd189ddf1"
            "b695b48cbd1c8388441137b3ce28f16aa64ba33ba466b24df6cfcb021ecff235"
            "f6a2056ce3af1de44d572097a8505d9e7a9354e5796284151c2dd39c39b3cd3d"
            "8e50fcc383ebdec37476e03b721ef5efef873c281f018b8ca42e1245b2271f87"
            "1ba6");
}

// RFC 5869 Appendix A.3: an absent salt means HashLen zero bytes; no info.
TEST(HkdfTest, Rfc5869TestCase3EmptySaltAndInfo) {
  const std::vector<std::uint8_t> ikm = Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  absl::StatusOr<SecretBytes> prk = HkdfExtract(HkdfHash::kSha256, {}, ikm);
  ASSERT_TRUE(prk.ok()) << prk.status();
  EXPECT_EQ(ToHex(prk->SecretSpan()),
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  absl::StatusOr<SecretBytes> okm = HkdfExpand(HkdfHash::kSha256, prk->SecretSpan(), {}, 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(ToHex(okm->SecretSpan()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfTest, RefusesBadLengths) {
  const std::vector<std::uint8_t> prk(32, 1);
  EXPECT_EQ(HkdfExpand(HkdfHash::kSha256, prk, {}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfExpand(HkdfHash::kSha256, prk, {}, 255 * 32 + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfExpand(HkdfHash::kSha512, prk, {}, 16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfExtract(HkdfHash::kSha256, {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloak::kms
