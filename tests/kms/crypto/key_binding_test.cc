#include "kms/crypto/key_binding.h"

#include <set>
#include <string>
#include <tuple>

#include "gtest/gtest.h"
#include "tests/kms/crypto/test_hex.h"

namespace cloak::kms {
namespace {

using kms_test::ToHex;

TEST(KeyBindingTest, WrapAadLayout) {
  EXPECT_EQ(ToHex(WrapAad("pvc-1", 7)), ToHex(kms_test::Bytes("cloak-wrap-v1")) + "00000005" +
                                            ToHex(kms_test::Bytes("pvc-1")) + "00000007");
}

TEST(KeyBindingTest, ReleaseInfoLayout) {
  EXPECT_EQ(ToHex(ReleaseInfo("pvc-3f9c2a71", 1)),
            "636c6f616b2d64656b2d76310000000c7076632d336639633261373100000001");
}

// Pairs that naive concatenation would confuse encode differently.
TEST(KeyBindingTest, NoTwoPairsCollide) {
  const std::vector<std::tuple<std::string, std::uint32_t>> pairs = {
      {"", 0},
      {"", 1},
      {"a", 0},
      {"a", 1},
      {"ab", 1},
      {std::string("a\0\0\0\x01", 5), 0},
      {"pvc-1", 1},
      {"pvc-1", 16777216},
      {"pvc-11", 1},
      {"pvc-", 0x31},
      {std::string("pvc-1\0", 6), 1},
      {std::string(200, 'x'), 2},
  };
  std::set<std::string> wrap, release;
  for (const auto& [volume, version] : pairs) {
    wrap.insert(ToHex(WrapAad(volume, version)));
    release.insert(ToHex(ReleaseInfo(volume, version)));
  }
  EXPECT_EQ(wrap.size(), pairs.size());
  EXPECT_EQ(release.size(), pairs.size());
  for (const std::string& encoded : wrap) EXPECT_EQ(release.count(encoded), 0u);
}

}  // namespace
}  // namespace cloak::kms
