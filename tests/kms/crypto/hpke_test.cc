#include "kms/crypto/hpke.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"
#include "tests/kms/crypto/test_hex.h"

namespace cloak::kms {
namespace {

using kms_test::Bytes;

class HpkeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<HpkeKeyPair> pair = HpkeGenerateKeyPair();
    ASSERT_TRUE(pair.ok()) << pair.status();
    recipient_ = *std::move(pair);
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSize);
    ASSERT_TRUE(dek.ok());
    dek_ = *std::move(dek);
    absl::StatusOr<HpkeSealed> sealed = HpkeSeal(recipient_.public_key, info_, aad_, dek_);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    sealed_ = *std::move(sealed);
  }

  absl::StatusOr<SecretBytes> OpenWith(std::span<const std::uint8_t> enc,
                                       std::span<const std::uint8_t> info,
                                       std::span<const std::uint8_t> aad,
                                       std::span<const std::uint8_t> ciphertext) {
    return HpkeOpen(recipient_.private_key, enc, info, aad, ciphertext);
  }

  HpkeKeyPair recipient_;
  SecretBytes dek_;
  const std::vector<std::uint8_t> info_ = ReleaseInfo("pvc-1", 1);
  const std::vector<std::uint8_t> aad_ = {'r', 'e', 'q', '-', '7'};
  HpkeSealed sealed_;
};

TEST_F(HpkeTest, RoundTrip) {
  EXPECT_EQ(recipient_.private_key.size(), 32u);
  EXPECT_EQ(sealed_.enc.size(), 32u);
  EXPECT_EQ(sealed_.ciphertext.size(), kDekSize + 16);
  absl::StatusOr<SecretBytes> opened = OpenWith(sealed_.enc, info_, aad_, sealed_.ciphertext);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(*opened == dek_);
}

TEST_F(HpkeTest, EverySealUsesAFreshEphemeralKey) {
  absl::StatusOr<HpkeSealed> again = HpkeSeal(recipient_.public_key, info_, aad_, dek_);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->enc, sealed_.enc);
  EXPECT_NE(again->ciphertext, sealed_.ciphertext);
}

TEST_F(HpkeTest, CiphertextDoesNotContainThePlaintext) {
  const auto dek = dek_.SecretSpan();
  const auto it = std::search(sealed_.ciphertext.begin(), sealed_.ciphertext.end(), dek.begin(),
                              dek.begin() + 16);
  EXPECT_EQ(it, sealed_.ciphertext.end());
}

TEST_F(HpkeTest, FlippedCiphertextBitIsRefused) {
  for (std::size_t i = 0; i < sealed_.ciphertext.size(); ++i) {
    std::vector<std::uint8_t> tampered = sealed_.ciphertext;
    tampered[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
    EXPECT_EQ(OpenWith(sealed_.enc, info_, aad_, tampered).status().code(),
              absl::StatusCode::kUnauthenticated)
        << "byte " << i;
  }
}

TEST_F(HpkeTest, FlippedEncBitIsRefused) {
  for (std::size_t i = 0; i < sealed_.enc.size(); ++i) {
    std::vector<std::uint8_t> tampered = sealed_.enc;
    tampered[i] ^= 0x01;
    const absl::StatusCode code =
        OpenWith(tampered, info_, aad_, sealed_.ciphertext).status().code();
    EXPECT_TRUE(code == absl::StatusCode::kUnauthenticated ||
                code == absl::StatusCode::kInvalidArgument)
        << "byte " << i << ": " << code;
  }
}

TEST_F(HpkeTest, OtherInfoIsRefused) {
  EXPECT_EQ(
      OpenWith(sealed_.enc, ReleaseInfo("pvc-2", 1), aad_, sealed_.ciphertext).status().code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      OpenWith(sealed_.enc, ReleaseInfo("pvc-1", 2), aad_, sealed_.ciphertext).status().code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(OpenWith(sealed_.enc, {}, aad_, sealed_.ciphertext).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(HpkeTest, OtherAadIsRefused) {
  EXPECT_EQ(OpenWith(sealed_.enc, info_, Bytes("req-8"), sealed_.ciphertext).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(OpenWith(sealed_.enc, info_, {}, sealed_.ciphertext).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(HpkeTest, OtherRecipientKeyIsRefused) {
  absl::StatusOr<HpkeKeyPair> other = HpkeGenerateKeyPair();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(
      HpkeOpen(other->private_key, sealed_.enc, info_, aad_, sealed_.ciphertext).status().code(),
      absl::StatusCode::kUnauthenticated);
}

TEST_F(HpkeTest, MalformedInputsAreInvalidArguments) {
  const std::vector<std::uint8_t> short_enc(sealed_.enc.begin(), sealed_.enc.end() - 1);
  EXPECT_EQ(OpenWith(short_enc, info_, aad_, sealed_.ciphertext).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      OpenWith(sealed_.enc, info_, aad_, std::span(sealed_.ciphertext).first(15)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenWith(sealed_.enc, info_, aad_, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HpkeOpen(SecretBytes(31), sealed_.enc, info_, aad_, sealed_.ciphertext).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HpkeSeal(std::span(recipient_.public_key).first(31), info_, aad_, dek_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HpkeSeal(recipient_.public_key, info_, aad_, SecretBytes()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Low-order X25519 points make the shared secret all zero; RFC 9180 §7.1.4 requires
// refusing them on both sides.
TEST_F(HpkeTest, LowOrderPointsAreRefused) {
  const std::vector<std::vector<std::uint8_t>> low_order = {
      std::vector<std::uint8_t>(32, 0),
      [] {
        std::vector<std::uint8_t> one(32, 0);
        one[0] = 1;
        return one;
      }(),
  };
  for (const auto& point : low_order) {
    EXPECT_EQ(HpkeSeal(point, info_, aad_, dek_).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(OpenWith(point, info_, aad_, sealed_.ciphertext).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace cloak::kms
