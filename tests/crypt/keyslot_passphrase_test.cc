#include "crypt/keyslot_passphrase.h"

#include <gtest/gtest.h>

#include <array>

namespace cloak::crypt {
namespace {

SecretBytes Dek() {
  std::array<std::uint8_t, 64> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return SecretBytes::CopyFrom(bytes);
}

TEST(KeyslotPassphrase, IsHkdfSha256OfTheDekWithVolumeInfo) {
  auto passphrase = DeriveKeyslotPassphrase(Dek(), "pvc-1");
  ASSERT_TRUE(passphrase.ok()) << passphrase.status();
  // HKDF-SHA256(IKM = 00..3f, salt = none, info = "cloak-keyslot-v1" "pvc-1", L = 32),
  // computed independently from RFC 5869's definition.
  const std::array<std::uint8_t, 32> expected = {0xe2, 0x7b, 0x11, 0x2d, 0xb0, 0x76, 0x91, 0xd5,
                                                 0xb1, 0xab, 0x0b, 0xf4, 0xf6, 0xf5, 0xc4, 0x01,
                                                 0x30, 0xe0, 0xc3, 0x6e, 0x2f, 0x12, 0x97, 0xec,
                                                 0x62, 0x98, 0xcb, 0x37, 0x8d, 0xde, 0x85, 0xbf};
  EXPECT_TRUE(*passphrase == SecretBytes::CopyFrom(expected));
}

TEST(KeyslotPassphrase, DependsOnTheVolumeId) {
  auto a = DeriveKeyslotPassphrase(Dek(), "pvc-1");
  auto b = DeriveKeyslotPassphrase(Dek(), "pvc-2");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(*a == *b);
}

TEST(KeyslotPassphrase, RefusesEmptyInputs) {
  EXPECT_FALSE(DeriveKeyslotPassphrase(SecretBytes(), "pvc-1").ok());
  EXPECT_FALSE(DeriveKeyslotPassphrase(Dek(), "").ok());
}

}  // namespace
}  // namespace cloak::crypt
