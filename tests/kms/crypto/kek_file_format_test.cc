#include "kms/crypto/kek_file_format.h"

#include <openssl/evp.h>

#include "gtest/gtest.h"
#include "kms/crypto/random.h"

namespace cloak::kms {
namespace {

std::vector<KekEntry> TwoVersions() {
  std::vector<KekEntry> entries;
  entries.push_back(KekEntry{1, KekState::kRetired, *RandomSecret(32)});
  entries.push_back(KekEntry{3, KekState::kActive, *RandomSecret(32)});
  return entries;
}

std::vector<std::uint8_t> Image(const std::vector<KekEntry>& entries) {
  absl::StatusOr<SecretBytes> image = SerializeKekFile(entries);
  EXPECT_TRUE(image.ok()) << image.status();
  return {image->SecretSpan().begin(), image->SecretSpan().end()};
}

// Recomputes the trailing checksum so a test can reach the checks behind it.
void Reseal(std::vector<std::uint8_t>& image) {
  unsigned int length = 0;
  EVP_Digest(image.data(), image.size() - 32, image.data() + image.size() - 32, &length,
             EVP_sha256(), nullptr);
}

TEST(KekFileFormatTest, RoundTrip) {
  const std::vector<KekEntry> entries = TwoVersions();
  const std::vector<std::uint8_t> image = Image(entries);
  EXPECT_EQ(image.size(), 13u + 2 * 37 + 32);
  absl::StatusOr<std::vector<KekEntry>> parsed = ParseKekFile(image);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*parsed)[i].version, entries[i].version);
    EXPECT_EQ((*parsed)[i].state, entries[i].state);
    EXPECT_TRUE((*parsed)[i].key == entries[i].key);
  }
}

TEST(KekFileFormatTest, AnyFlippedBitIsRefused) {
  const std::vector<std::uint8_t> image = Image(TwoVersions());
  for (std::size_t bit = 0; bit < image.size() * 8; ++bit) {
    std::vector<std::uint8_t> damaged = image;
    damaged[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_EQ(ParseKekFile(damaged).status().code(), absl::StatusCode::kInvalidArgument)
        << "bit " << bit;
  }
}

TEST(KekFileFormatTest, TruncatedOrExtendedIsRefused) {
  const std::vector<std::uint8_t> image = Image(TwoVersions());
  for (std::size_t size : {std::size_t{0}, std::size_t{12}, image.size() - 1}) {
    EXPECT_EQ(ParseKekFile(std::span(image).first(size)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  std::vector<std::uint8_t> longer = image;
  longer.push_back(0);
  EXPECT_EQ(ParseKekFile(longer).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KekFileFormatTest, StructuralRulesHoldEvenWithAValidChecksum) {
  const std::vector<std::uint8_t> image = Image(TwoVersions());
  std::vector<std::uint8_t> bad_state = image;
  bad_state[13 + 4] = 0x07;
  Reseal(bad_state);
  EXPECT_EQ(ParseKekFile(bad_state).status().code(), absl::StatusCode::kInvalidArgument);

  std::vector<std::uint8_t> out_of_order = image;
  out_of_order[13 + 37 + 3] = 0x01;  // second entry's version becomes 1, like the first
  Reseal(out_of_order);
  EXPECT_EQ(ParseKekFile(out_of_order).status().code(), absl::StatusCode::kInvalidArgument);

  std::vector<std::uint8_t> none_active = image;
  none_active[13 + 37 + 4] = 0x02;
  Reseal(none_active);
  EXPECT_EQ(ParseKekFile(none_active).status().code(), absl::StatusCode::kInvalidArgument);

  std::vector<std::uint8_t> zero_count = image;
  zero_count[12] = 0;
  Reseal(zero_count);
  EXPECT_EQ(ParseKekFile(zero_count).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KekFileFormatTest, SerializeRefusesBrokenSets) {
  EXPECT_FALSE(SerializeKekFile({}).ok());
  std::vector<KekEntry> short_key;
  short_key.push_back(KekEntry{1, KekState::kActive, SecretBytes(16)});
  EXPECT_FALSE(SerializeKekFile(short_key).ok());
  std::vector<KekEntry> zero_version;
  zero_version.push_back(KekEntry{0, KekState::kActive, SecretBytes(32)});
  EXPECT_FALSE(SerializeKekFile(zero_version).ok());
}

}  // namespace
}  // namespace cloak::kms
