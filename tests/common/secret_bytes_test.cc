#include "common/secret_bytes.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace cloak {
namespace {

// Records what state each buffer is in when SecretBytes hands it back.
class RecordingAllocator final : public SecretAllocator {
 public:
  void* Allocate(std::size_t size) override {
    void* data = std::malloc(size);
    live_[data] = size;
    return data;
  }
  void Deallocate(void* data, std::size_t size) override {
    ASSERT_EQ(live_.count(data), 1u) << "double free or foreign pointer";
    ASSERT_EQ(live_[data], size);
    const auto* bytes = static_cast<const unsigned char*>(data);
    bool all_zero = true;
    for (std::size_t i = 0; i < size; ++i) all_zero = all_zero && bytes[i] == 0;
    released_.push_back({size, all_zero});
    live_.erase(data);
    std::free(data);
  }

  struct Release {
    std::size_t size;
    bool wiped;
  };
  const std::vector<Release>& released() const { return released_; }
  std::size_t live() const { return live_.size(); }

 private:
  std::map<void*, std::size_t> live_;
  std::vector<Release> released_;
};

std::vector<std::uint8_t> Pattern(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(seed + i * 7 + 1);
  return bytes;
}

TEST(SecretBytesTest, CopiesContentAndWipesOnDestruction) {
  RecordingAllocator allocator;
  const auto source = Pattern(64, 3);
  {
    SecretBytes secret = SecretBytes::CopyFrom(source, allocator);
    ASSERT_EQ(secret.size(), 64u);
    EXPECT_EQ(std::memcmp(secret.SecretData(), source.data(), 64), 0);
  }
  ASSERT_EQ(allocator.released().size(), 1u);
  EXPECT_EQ(allocator.released()[0].size, 64u);
  EXPECT_TRUE(allocator.released()[0].wiped);
  EXPECT_EQ(allocator.live(), 0u);
}

TEST(SecretBytesTest, MoveConstructionTransfersOwnershipAndEmptiesSource) {
  RecordingAllocator allocator;
  SecretBytes original = SecretBytes::CopyFrom(Pattern(32, 9), allocator);
  const std::uint8_t* buffer = original.SecretData();
  SecretBytes moved(std::move(original));
  EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): checking the contract.
  EXPECT_EQ(original.SecretData(), nullptr);
  EXPECT_EQ(moved.SecretData(), buffer);
  EXPECT_TRUE(allocator.released().empty()) << "a move must not release or copy the buffer";
  moved.Clear();
  ASSERT_EQ(allocator.released().size(), 1u);
  EXPECT_TRUE(allocator.released()[0].wiped);
}

TEST(SecretBytesTest, MoveAssignmentWipesTheOverwrittenBuffer) {
  RecordingAllocator allocator;
  SecretBytes target = SecretBytes::CopyFrom(Pattern(16, 1), allocator);
  SecretBytes source = SecretBytes::CopyFrom(Pattern(48, 2), allocator);
  target = std::move(source);
  ASSERT_EQ(allocator.released().size(), 1u);
  EXPECT_EQ(allocator.released()[0].size, 16u);
  EXPECT_TRUE(allocator.released()[0].wiped);
  EXPECT_EQ(target.size(), 48u);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, EqualityComparesContentAndSize) {
  const auto a = SecretBytes::CopyFrom(Pattern(32, 5));
  const auto b = SecretBytes::CopyFrom(Pattern(32, 5));
  const auto c = SecretBytes::CopyFrom(Pattern(32, 6));
  const auto d = SecretBytes::CopyFrom(Pattern(31, 5));
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_FALSE(a == d);
  EXPECT_TRUE(SecretBytes() == SecretBytes());
}

TEST(SecretBytesTest, DifferenceInLastByteIsDetected) {
  auto bytes = Pattern(64, 0);
  const auto a = SecretBytes::CopyFrom(bytes);
  bytes[63] ^= 1;
  const auto b = SecretBytes::CopyFrom(bytes);
  EXPECT_FALSE(a == b);
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  RecordingAllocator allocator;
  SecretBytes secret(24, allocator);
  for (std::size_t i = 0; i < secret.size(); ++i) EXPECT_EQ(secret.SecretData()[i], 0);
}

TEST(SecretBytesTest, PrintsOnlyItsSize) {
  const auto secret = SecretBytes::CopyFrom(Pattern(8, 'A'));
  EXPECT_EQ(::testing::PrintToString(secret), "SecretBytes(8 bytes, redacted)");
}

}  // namespace
}  // namespace cloak

namespace cloak {
namespace {

// The default allocator serves secrets from OpenSSL's locked secure heap, and once that
// is full, from pages of their own; both kinds read back and release cleanly.
TEST(DefaultSecretAllocatorTest, SecretsLiveInTheLockedHeapAndOverflowToOwnPages) {
  SecretBytes small(64);
  ASSERT_EQ(small.size(), 64u);
  EXPECT_EQ(CRYPTO_secure_malloc_initialized(), 1);
  EXPECT_EQ(CRYPTO_secure_allocated(small.SecretData()), 1);
  // Larger than the whole arena: cannot come from it.
  SecretBytes huge(std::size_t{8} << 20);
  EXPECT_EQ(CRYPTO_secure_allocated(huge.SecretData()), 0);
  huge.MutableSecretData()[huge.size() - 1] = 0x5a;
  EXPECT_EQ(huge.SecretData()[huge.size() - 1], 0x5a);
  EXPECT_EQ(huge.SecretData()[0], 0);
}

}  // namespace
}  // namespace cloak
