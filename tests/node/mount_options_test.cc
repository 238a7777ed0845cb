#include <sys/mount.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/mounter_impl.h"

namespace cloak::node {
namespace {

using ::testing::HasSubstr;

MountFlags Translate(const std::vector<std::string>& options) {
  absl::StatusOr<MountFlags> flags = TranslateMountOptions(options);
  EXPECT_TRUE(flags.ok()) << flags.status();
  return flags.value_or(MountFlags{~0UL, "failed"});
}

TEST(TranslateMountOptionsTest, NoOptionsIsNoFlagsAndNoData) {
  EXPECT_EQ(Translate({}), (MountFlags{0, ""}));
}

TEST(TranslateMountOptionsTest, EachGenericOptionIsItsFlag) {
  const std::pair<std::string, unsigned long> cases[] = {
      {"ro", MS_RDONLY},         {"nosuid", MS_NOSUID},           {"nodev", MS_NODEV},
      {"noexec", MS_NOEXEC},     {"noatime", MS_NOATIME},         {"nodiratime", MS_NODIRATIME},
      {"relatime", MS_RELATIME}, {"strictatime", MS_STRICTATIME}, {"sync", MS_SYNCHRONOUS},
      {"dirsync", MS_DIRSYNC},   {"lazytime", MS_LAZYTIME},       {"rw", 0}};
  for (const auto& [option, flag] : cases) {
    EXPECT_EQ(Translate({option}), (MountFlags{flag, ""})) << option;
  }
}

TEST(TranslateMountOptionsTest, TheRestIsTheDataStringInOrder) {
  EXPECT_EQ(Translate({"noexec", "discard", "ro", "data=ordered", "errors=remount-ro"}),
            (MountFlags{MS_NOEXEC | MS_RDONLY, "discard,data=ordered,errors=remount-ro"}));
}

TEST(TranslateMountOptionsTest, ALaterRoOrRwWins) {
  EXPECT_EQ(Translate({"ro", "rw"}).flags, 0UL);
  EXPECT_EQ(Translate({"rw", "ro"}).flags, static_cast<unsigned long>(MS_RDONLY));
}

TEST(TranslateMountOptionsTest, ALaterAtimeOptionReplacesAnEarlierOne) {
  EXPECT_EQ(Translate({"noatime", "relatime"}).flags, static_cast<unsigned long>(MS_RELATIME));
  EXPECT_EQ(Translate({"strictatime", "noatime", "nodiratime"}).flags,
            static_cast<unsigned long>(MS_NOATIME | MS_NODIRATIME));
}

TEST(TranslateMountOptionsTest, SkipsEmptyOptions) {
  EXPECT_EQ(Translate({"", "discard", ""}), (MountFlags{0, "discard"}));
}

TEST(TranslateMountOptionsTest, RefusesACommaOrANul) {
  for (const std::string& bad : {std::string("ro,exec"), std::string("a\0b", 3)}) {
    absl::StatusOr<MountFlags> flags = TranslateMountOptions({"noexec", bad});
    ASSERT_FALSE(flags.ok());
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(flags.status().message(), HasSubstr("its own mount flag"));
  }
}

TEST(NormalizeMountTargetTest, IsLexical) {
  EXPECT_EQ(NormalizeMountTarget("/var/lib/x/").value_or(""), "/var/lib/x");
  EXPECT_EQ(NormalizeMountTarget("/var//lib/./y/../x").value_or(""), "/var/lib/x");
  EXPECT_EQ(NormalizeMountTarget("/").value_or(""), "/");
  EXPECT_EQ(NormalizeMountTarget("//").value_or(""), "/");
}

TEST(NormalizeMountTargetTest, RefusesARelativePath) {
  for (const char* bad : {"", "var/lib", "./x"}) {
    absl::StatusOr<std::string> normal = NormalizeMountTarget(bad);
    ASSERT_FALSE(normal.ok()) << bad;
    EXPECT_EQ(normal.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(normal.status().message(), HasSubstr("not an absolute path"));
  }
}

}  // namespace
}  // namespace cloak::node
