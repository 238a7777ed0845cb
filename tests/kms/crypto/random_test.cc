#include "kms/crypto/random.h"

#include <array>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kms/crypto/test_hex.h"

namespace cloak::kms {
namespace {

using kms_test::ToHex;

TEST(RandomTest, DekHasTheRequestedSizeAndIsFresh) {
  for (const std::size_t size : {kDekSize, kDekSizeWithHmacIntegrity}) {
    absl::StatusOr<SecretBytes> first = GenerateDek(size);
    absl::StatusOr<SecretBytes> second = GenerateDek(size);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(first->size(), size);
    EXPECT_FALSE(*first == *second);
    EXPECT_FALSE(*first == SecretBytes(size)) << "a DEK of all zeros";
  }
}

TEST(RandomTest, RefusesUnsupportedDekSizes) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{32}, std::size_t{65}}) {
    EXPECT_EQ(GenerateDek(size).status().code(), absl::StatusCode::kInvalidArgument) << size;
  }
}

TEST(RandomTest, RandomSecretBounds) {
  EXPECT_EQ(RandomSecret(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RandomSecret(4097).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<SecretBytes> secret = RandomSecret(4096);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->size(), 4096u);
}

TEST(RandomTest, ManyDeksAreDistinctAndUseEveryByteValue) {
  std::set<std::string> seen;
  std::array<bool, 256> byte_seen{};
  for (int i = 0; i < 64; ++i) {
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSize);
    ASSERT_TRUE(dek.ok());
    seen.insert(ToHex(dek->SecretSpan()));
    for (std::uint8_t b : dek->SecretSpan()) byte_seen[b] = true;
  }
  EXPECT_EQ(seen.size(), 64u);
  int values = 0;
  for (bool b : byte_seen) values += b ? 1 : 0;
  EXPECT_GT(values, 240);  // 4096 uniform bytes miss a given value with probability ~1e-7.
}

TEST(RandomTest, PublicRandomFillsTheBuffer) {
  std::vector<std::uint8_t> a(32), b(32);
  ASSERT_TRUE(FillPublicRandom(a).ok());
  ASSERT_TRUE(FillPublicRandom(b).ok());
  EXPECT_NE(a, b);
  EXPECT_TRUE(FillPublicRandom({}).ok());
}

}  // namespace
}  // namespace cloak::kms
