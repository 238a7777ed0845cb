#include "kms/crypto/kek_wrap_format.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"

namespace cloak::kms {
namespace {

class KekWrapFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<SecretBytes> kek = RandomSecret(kKekSize);
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSizeWithHmacIntegrity);
    ASSERT_TRUE(kek.ok() && dek.ok());
    kek_ = *std::move(kek);
    dek_ = *std::move(dek);
    absl::StatusOr<std::vector<std::uint8_t>> wrapped = WrapWithKek(kek_, 0x01020304, dek_, aad_);
    ASSERT_TRUE(wrapped.ok()) << wrapped.status();
    wrapped_ = *std::move(wrapped);
  }

  SecretBytes kek_;
  SecretBytes dek_;
  const std::vector<std::uint8_t> aad_ = WrapAad("pvc-1", 1);
  std::vector<std::uint8_t> wrapped_;
};

TEST_F(KekWrapFormatTest, LayoutIsVersionKekVersionNonceCiphertextTag) {
  ASSERT_EQ(wrapped_.size(), 1 + 4 + 12 + kDekSizeWithHmacIntegrity + 16);
  EXPECT_EQ(wrapped_[0], kWrapFormatVersion);
  EXPECT_EQ(wrapped_[1], 0x01);
  EXPECT_EQ(wrapped_[4], 0x04);
  absl::StatusOr<std::uint32_t> version = WrappedKekVersion(wrapped_);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 0x01020304u);
}

TEST_F(KekWrapFormatTest, RoundTrip) {
  absl::StatusOr<SecretBytes> unwrapped = UnwrapWithKek(kek_, wrapped_, aad_);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(*unwrapped == dek_);
}

TEST_F(KekWrapFormatTest, NoncesAreFreshAndTheKeyIsNotVisible) {
  absl::StatusOr<std::vector<std::uint8_t>> again = WrapWithKek(kek_, 0x01020304, dek_, aad_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(std::equal(wrapped_.begin() + 5, wrapped_.begin() + 17, again->begin() + 5));
  const auto dek = dek_.SecretSpan();
  EXPECT_EQ(std::search(wrapped_.begin(), wrapped_.end(), dek.begin(), dek.begin() + 8),
            wrapped_.end());
}

TEST_F(KekWrapFormatTest, EveryFlippedBitIsRefused) {
  for (std::size_t bit = 0; bit < wrapped_.size() * 8; ++bit) {
    std::vector<std::uint8_t> tampered = wrapped_;
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const absl::StatusCode code = UnwrapWithKek(kek_, tampered, aad_).status().code();
    // The format byte is checked before decryption; everything else fails the tag.
    if (bit < 8) {
      EXPECT_EQ(code, absl::StatusCode::kInvalidArgument) << "bit " << bit;
    } else {
      EXPECT_EQ(code, absl::StatusCode::kUnauthenticated) << "bit " << bit;
    }
  }
}

TEST_F(KekWrapFormatTest, WrongAadOrKekIsRefused) {
  EXPECT_EQ(UnwrapWithKek(kek_, wrapped_, WrapAad("pvc-2", 1)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(UnwrapWithKek(kek_, wrapped_, WrapAad("pvc-1", 2)).status().code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<SecretBytes> other = RandomSecret(kKekSize);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(UnwrapWithKek(*other, wrapped_, aad_).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(KekWrapFormatTest, MalformedInputs) {
  EXPECT_EQ(UnwrapWithKek(kek_, std::span(wrapped_).first(33), aad_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WrapWithKek(SecretBytes(16), 1, dek_, aad_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WrapWithKek(kek_, 1, SecretBytes(), aad_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloak::kms
