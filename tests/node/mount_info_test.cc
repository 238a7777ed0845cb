#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/mounter.h"

namespace cloak::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(ParseMountInfoTest, ParsesALineWithOptionalFields) {
  auto entries = ParseMountInfo(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(1));
  const MountEntry& e = (*entries)[0];
  EXPECT_EQ(e.device_number, "98:0");
  EXPECT_EQ(e.root, "/mnt1");
  EXPECT_EQ(e.target, "/mnt2");
  EXPECT_THAT(e.mount_options, ElementsAre("rw", "noatime"));
  EXPECT_EQ(e.fs_type, "ext3");
  EXPECT_EQ(e.source, "/dev/root");
  EXPECT_THAT(e.super_options, ElementsAre("rw", "errors=continue"));
  EXPECT_FALSE(e.read_only());
}

TEST(ParseMountInfoTest, ParsesSeveralOptionalFieldsAndNone) {
  auto entries = ParseMountInfo(
      "27 1 254:0 / / rw,relatime shared:1 master:2 propagate_from:3 - ext4 /dev/vda rw\n"
      "45 27 253:3 / /var/lib/kubelet/plugins/cloak/staging/vol1 rw,nosuid,nodev,relatime - "
      "xfs /dev/mapper/cloak-vol1 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(2));
  EXPECT_EQ((*entries)[0].target, "/");
  EXPECT_EQ((*entries)[0].fs_type, "ext4");
  EXPECT_EQ((*entries)[0].source, "/dev/vda");
  EXPECT_THAT((*entries)[0].super_options, ElementsAre("rw"));
  const MountEntry& staged = (*entries)[1];
  EXPECT_EQ(staged.device_number, "253:3");
  EXPECT_EQ(staged.target, "/var/lib/kubelet/plugins/cloak/staging/vol1");
  EXPECT_THAT(staged.mount_options, ElementsAre("rw", "nosuid", "nodev", "relatime"));
  EXPECT_EQ(staged.fs_type, "xfs");
  EXPECT_EQ(staged.source, "/dev/mapper/cloak-vol1");
  EXPECT_THAT(staged.super_options,
              ElementsAre("rw", "attr2", "inode64", "logbufs=8", "logbsize=32k", "noquota"));
}

TEST(ParseMountInfoTest, DecodesOctalEscapes) {
  // What the kernel writes for a mount at "/tmp/a b" of source "src<TAB>x\y", and for
  // a newline in a path.
  auto entries = ParseMountInfo(
      "45 27 0:40 / /tmp/a\\040b rw,relatime - tmpfs src\\011x\\134y rw\n"
      "46 27 0:41 /dir\\012name /mnt/new\\012line ro,relatime - tmpfs none rw,size=1024k\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(2));
  EXPECT_EQ((*entries)[0].target, "/tmp/a b");
  EXPECT_EQ((*entries)[0].source, "src\tx\\y");
  EXPECT_EQ((*entries)[1].root, "/dir\nname");
  EXPECT_EQ((*entries)[1].target, "/mnt/new\nline");
}

TEST(ParseMountInfoTest, KeepsAnEscapedCommaInsideItsOption) {
  auto entries = ParseMountInfo("50 27 0:50 / /x rw - fuse.sshfs host:/a rw,subtype=a\\054b,x\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT((*entries)[0].super_options, ElementsAre("rw", "subtype=a,b", "x"));
}

TEST(ParseMountInfoTest, LeavesABackslashThatIsNotAnEscape) {
  auto entries = ParseMountInfo("50 27 0:50 / /a\\x\\12 rw - tmpfs none\\9 rw\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].target, "/a\\x\\12");
  EXPECT_EQ((*entries)[0].source, "none\\9");
}

TEST(ParseMountInfoTest, ParsesABindMountOfASubdirectoryAndOfADeviceNode) {
  auto entries = ParseMountInfo(
      "60 45 253:3 /data/pod1 /var/lib/kubelet/pods/p/volumes/v/mount ro,nosuid,nodev,relatime "
      "shared:7 - ext4 /dev/mapper/cloak-vol1 rw\n"
      "61 24 0:6 /mapper/cloak-vol2 /var/lib/kubelet/pods/p/volumeDevices/v/dev rw,nosuid "
      "- devtmpfs devtmpfs rw,size=12335016k,nr_inodes=3083754,mode=755\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(2));
  EXPECT_EQ((*entries)[0].root, "/data/pod1");
  EXPECT_EQ((*entries)[0].source, "/dev/mapper/cloak-vol1");
  EXPECT_TRUE((*entries)[0].read_only());
  EXPECT_EQ((*entries)[1].root, "/mapper/cloak-vol2");
  EXPECT_EQ((*entries)[1].fs_type, "devtmpfs");
  EXPECT_THAT((*entries)[1].mount_options, ElementsAre("rw", "nosuid"));
}

TEST(ParseMountInfoTest, ParsesAnEmptySource) {
  // mount(2) given "" as its source: two spaces in a row.
  auto entries = ParseMountInfo("45 27 0:40 / /tmp/ex rw,relatime - tmpfs  rw\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].fs_type, "tmpfs");
  EXPECT_EQ((*entries)[0].source, "");
  EXPECT_THAT((*entries)[0].super_options, ElementsAre("rw"));
}

TEST(ParseMountInfoTest, AcceptsEmptyTextAndAMissingFinalNewline) {
  auto none = ParseMountInfo("");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, SizeIs(0));
  auto one = ParseMountInfo("22 27 0:21 / /proc rw,relatime - proc proc rw");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_THAT(*one, SizeIs(1));
  EXPECT_EQ((*one)[0].target, "/proc");
  EXPECT_THAT((*one)[0].super_options, ElementsAre("rw"));
}

struct MalformedCase {
  std::string line;
  std::string reason;
};

class MalformedLineTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedLineTest, IsRefusedNamingTheLine) {
  const std::string good = "22 27 0:21 / /proc rw,relatime - proc proc rw\n";
  auto entries = ParseMountInfo(good + GetParam().line + "\n" + good);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(entries.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(entries.status().message(), HasSubstr(GetParam().line));
  EXPECT_THAT(entries.status().message(), HasSubstr(GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    Lines, MalformedLineTest,
    ::testing::Values(
        MalformedCase{"22 27 0:21 / /proc rw - proc proc", "9 fields"},
        MalformedCase{"garbage", "1 fields"},
        MalformedCase{"22 27 0:21 / /proc rw shared:1 x proc proc rw", "no \" - \" separator"},
        MalformedCase{"22 27 0:21 / /proc rw - proc proc rw extra", "4 fields after"},
        MalformedCase{"22 27 0:21 / /proc rw shared:1 - proc rw", "2 fields after"},
        MalformedCase{"x 27 0:21 / /proc rw - proc proc rw", "mount IDs are not numbers"},
        MalformedCase{"22 27 021 / /proc rw - proc proc rw", "not MAJOR:MINOR"},
        MalformedCase{"22 27 0:21 / /proc rw  - proc proc rw", "an empty field"}));

TEST(MountEntryTest, ReadOnlyMeansRoAmongTheMountOptions) {
  MountEntry entry;
  entry.mount_options = {"rw", "nosuid"};
  entry.super_options = {"ro"};  // the superblock's "ro" is not the mount's
  EXPECT_FALSE(entry.read_only());
  entry.mount_options = {"nosuid", "ro", "relatime"};
  EXPECT_TRUE(entry.read_only());
  entry.mount_options = {"rox", "nor"};
  EXPECT_FALSE(entry.read_only());
  entry.mount_options = {};
  EXPECT_FALSE(entry.read_only());
}

}  // namespace
}  // namespace cloak::node
