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
