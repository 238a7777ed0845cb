// SystemMounter against the real kernel: loop devices over sparse files, ext4 and xfs,
// mounts and binds in a mount namespace of the test's own. Needs root, loop devices
// (/dev/loop-control), e2fsprogs, xfsprogs and util-linux's losetup; exits 77 only when
// mount(2) itself is refused (EPERM: an unprivileged container).

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/mounter.h"
#include "node/run_tool.h"

namespace cloak::node {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr const char* kLosetup = "/usr/sbin/losetup";

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : std::to_string(error);
}

// Moves the test into a mount namespace of its own, so that nothing it mounts outlives
// it, and checks that mount(2) works at all.
void RequireMounting() {
  if (unshare(CLONE_NEWNS) == 0) {
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      std::cerr << "cannot make / private in the test's mount namespace: " << ErrnoName(errno)
                << "\n";
      std::exit(1);
    }
  } else {
    std::cerr << "note: no mount namespace of its own (" << ErrnoName(errno)
              << "); mounting in the current one\n";
  }
  char probe[] = "/tmp/cloak-mount-probe-XXXXXX";
  if (mkdtemp(probe) == nullptr) std::abort();
  const int r = mount("none", probe, "tmpfs", 0, "size=64k");
  const int error = errno;
  if (r == 0) umount2(probe, 0);
  rmdir(probe);
  if (r != 0 && error == EPERM) {
    std::cerr << "SKIPPED: mount(2) is refused here (EPERM); run as root with CAP_SYS_ADMIN\n";
    std::exit(77);
  }
  if (r != 0) {
    std::cerr << "mount(2) of a tmpfs failed: " << ErrnoName(error) << "\n";
    std::exit(1);
  }
}

// 0, or the errno of creating (or truncating) `path` and writing `content` to it.
int WriteFile(const std::string& path, const std::string& content) {
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  const ssize_t n = write(fd, content.data(), content.size());
  int error = n == static_cast<ssize_t>(content.size()) ? 0 : (n < 0 ? errno : EIO);
  if (error == 0 && fsync(fd) != 0) error = errno;
  close(fd);
  return error;
}

std::string ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<" + ErrnoName(errno) + ">";
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  close(fd);
  return text;
}

// Whether `capability` (CAP_*) is in this process's effective set.
bool HasCapability(int capability) {
  const std::string status = ReadFile("/proc/self/status");
  const std::size_t at = status.find("CapEff:\t");
  if (at == std::string::npos) return false;
  const std::uint64_t effective = std::stoull(status.substr(at + 8, 16), nullptr, 16);
  return (effective >> capability) & 1;
}

class MounterIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RequireMounting(); }

  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    // Not tmpfs: the loop devices use direct I/O on their backing files.
    std::string pattern = std::string(base != nullptr ? base : "/var/tmp") + "/cloak-mnt-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << pattern << ": " << ErrnoName(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    // Whatever a failed test left mounted under dir_, topmost first; then the loops.
    if (auto entries = ParseMountInfo(ReadFile("/proc/self/mountinfo")); entries.ok()) {
      for (auto e = entries->rbegin(); e != entries->rend(); ++e) {
        if (e->target.rfind(dir_ + "/", 0) == 0) umount2(e->target.c_str(), MNT_DETACH);
      }
    }
    for (const std::string& device : devices_) {
      absl::StatusOr<ToolResult> detached = RunTool(kLosetup, {"-d", device});
      EXPECT_TRUE(detached.ok() && detached->exit_status == 0)
          << "losetup -d " << device << ": "
          << (detached.ok() ? detached->output : detached.status().ToString());
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A new directory (or, with `file`, an empty regular file) under the test's directory.
  std::string Path(const std::string& name, bool file = false) {
    const std::string path = dir_ + "/" + name;
    if (file) {
      EXPECT_EQ(WriteFile(path, ""), 0) << path;
    } else {
      EXPECT_EQ(mkdir(path.c_str(), 0755), 0) << path << ": " << ErrnoName(errno);
    }
    return path;
  }

  // A sparse backing file of `size` bytes attached to a new loop device (direct I/O,
  // 4096-byte sectors, as the local backend attaches them).
  void Attach(const std::string& name, std::uint64_t size, std::string* device) {
    const std::string file = dir_ + "/" + name;
    const int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << file << ": " << ErrnoName(errno);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    close(fd);
    absl::StatusOr<ToolResult> attached =
        RunTool(kLosetup, {"--find", "--show", "--direct-io=on", "--sector-size", "4096", file});
    ASSERT_TRUE(attached.ok()) << attached.status();
    ASSERT_EQ(attached->exit_status, 0) << attached->output;
    *device = attached->output.substr(0, attached->output.find('\n'));
    ASSERT_EQ(device->rfind("/dev/loop", 0), 0u) << attached->output;
    devices_.push_back(*device);
    files_[*device] = file;
  }

  // Grows the backing file of `device` to `size` bytes and tells the loop driver.
  void GrowBacking(const std::string& device, std::uint64_t size) {
    ASSERT_EQ(truncate(files_[device].c_str(), static_cast<off_t>(size)), 0) << ErrnoName(errno);
    absl::StatusOr<ToolResult> refreshed = RunTool(kLosetup, {"-c", device});
    ASSERT_TRUE(refreshed.ok()) << refreshed.status();
    ASSERT_EQ(refreshed->exit_status, 0) << refreshed->output;
  }

  // A formatted, mounted filesystem: `device` and its mount point `mnt`.
  void MountNew(std::string_view fs_type, std::uint64_t size, std::string* device, std::string* mnt,
                const std::vector<std::string>& options = {}) {
    ASSERT_NO_FATAL_FAILURE(Attach(fmt::format("{}.img", fs_type), size, device));
    ASSERT_TRUE(mounter_->MakeFilesystem(*device, fs_type).ok());
    *mnt = Path(fmt::format("{}-mnt", fs_type));
    absl::Status mounted = mounter_->Mount(*device, *mnt, fs_type, options);
    ASSERT_TRUE(mounted.ok()) << mounted;
  }

  std::string dir_;
  std::vector<std::string> devices_;
  std::map<std::string, std::string> files_;
  std::unique_ptr<Mounter> mounter_ = MakeSystemMounter();
};

TEST_F(MounterIntegrationTest, MountsExt4AndFindsIt) {
  std::string device;
  ASSERT_NO_FATAL_FAILURE(Attach("ext4.img", 256 * kMiB, &device));
  absl::Status made = mounter_->MakeFilesystem(device, kExt4);
  ASSERT_TRUE(made.ok()) << made;
  const std::string mnt = Path("mnt");
  ASSERT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);

  absl::Status mounted = mounter_->Mount(device, mnt, kExt4, {"noexec", "errors=remount-ro"});
  ASSERT_TRUE(mounted.ok()) << mounted;
  absl::StatusOr<MountEntry> entry = mounter_->FindMount(mnt);
  ASSERT_TRUE(entry.ok()) << entry.status();
  struct stat st {};
  ASSERT_EQ(stat(device.c_str(), &st), 0);
  EXPECT_EQ(entry->device_number, fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev)));
  EXPECT_EQ(entry->target, mnt);
  EXPECT_EQ(entry->root, "/");
  EXPECT_EQ(entry->fs_type, "ext4");
  EXPECT_EQ(entry->source, device);
  EXPECT_FALSE(entry->read_only());
  EXPECT_THAT(entry->mount_options, Contains("noexec"));
  EXPECT_THAT(entry->mount_options, Contains("nosuid"));
  EXPECT_THAT(entry->mount_options, Contains("nodev"));
  EXPECT_THAT(entry->super_options, Contains("errors=remount-ro"));

  // The same mount through a trailing slash and a "." component.
  absl::StatusOr<MountEntry> again = mounter_->FindMount(dir_ + "/./mnt/");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *entry);

  ASSERT_EQ(WriteFile(mnt + "/hello", "hello from ext4"), 0);
  EXPECT_EQ(ReadFile(mnt + "/hello"), "hello from ext4");

  ASSERT_TRUE(mounter_->Unmount(mnt).ok());
  EXPECT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(mnt + "/hello"), "<ENOENT>");  // it was on the filesystem, not here
  absl::Status twice = mounter_->Unmount(mnt);
  EXPECT_TRUE(twice.ok()) << twice;

  // Mounted again, the file is still there.
  ASSERT_TRUE(mounter_->Mount(device, mnt, kExt4, {}).ok());
  EXPECT_EQ(ReadFile(mnt + "/hello"), "hello from ext4");
  EXPECT_THAT(mounter_->FindMount(mnt)->mount_options, Not(Contains("noexec")));
}

TEST_F(MounterIntegrationTest, MountsXfsAndFindsIt) {
  std::string device;
  std::string mnt;
  ASSERT_NO_FATAL_FAILURE(MountNew(kXfs, 512 * kMiB, &device, &mnt, {"ro"}));
  absl::StatusOr<MountEntry> entry = mounter_->FindMount(mnt);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->fs_type, "xfs");
  EXPECT_EQ(entry->source, device);
  EXPECT_TRUE(entry->read_only());
  EXPECT_THAT(entry->mount_options, Contains("nosuid"));
  EXPECT_THAT(entry->mount_options, Contains("nodev"));
  EXPECT_EQ(WriteFile(mnt + "/x", "x"), EROFS);
  ASSERT_TRUE(mounter_->Unmount(mnt).ok());
  EXPECT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MounterIntegrationTest, ReadOnlyBindOfADirectoryLeavesTheSourceWritable) {
  std::string device;
  std::string mnt;
  ASSERT_NO_FATAL_FAILURE(MountNew(kExt4, 256 * kMiB, &device, &mnt));
  ASSERT_EQ(mkdir((mnt + "/data").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(mnt + "/data/before", "staged"), 0);
  const std::string ro = Path("ro");
  const std::string rw = Path("rw");

  absl::Status bound = mounter_->BindMount(mnt + "/data", ro, /*read_only=*/true, {"noexec"});
  ASSERT_TRUE(bound.ok()) << bound;
  absl::StatusOr<MountEntry> entry = mounter_->FindMount(ro);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_TRUE(entry->read_only());
  EXPECT_EQ(entry->root, "/data");
  EXPECT_EQ(entry->source, device);
  EXPECT_THAT(entry->mount_options, Contains("noexec"));
  EXPECT_THAT(entry->mount_options, Contains("nosuid"));
  EXPECT_THAT(entry->mount_options, Contains("nodev"));
  EXPECT_EQ(ReadFile(ro + "/before"), "staged");
  EXPECT_EQ(WriteFile(ro + "/new", "x"), EROFS);
  EXPECT_EQ(WriteFile(ro + "/before", "x"), EROFS);
  EXPECT_FALSE(mounter_->FindMount(mnt)->read_only());
  ASSERT_EQ(WriteFile(mnt + "/data/after", "still writable"), 0);
  EXPECT_EQ(ReadFile(ro + "/after"), "still writable");

  // A writable bind of the same directory: writes land in the staged filesystem.
  bound = mounter_->BindMount(mnt + "/data", rw, /*read_only=*/false, {});
  ASSERT_TRUE(bound.ok()) << bound;
  EXPECT_FALSE(mounter_->FindMount(rw)->read_only());
  EXPECT_THAT(mounter_->FindMount(rw)->mount_options, Contains("nodev"));
  ASSERT_EQ(WriteFile(rw + "/from-pod", "pod"), 0);
  EXPECT_EQ(ReadFile(mnt + "/data/from-pod"), "pod");

  for (const std::string& target : {ro, rw}) {
    ASSERT_TRUE(mounter_->Unmount(target).ok()) << target;
    EXPECT_EQ(mounter_->FindMount(target).status().code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(mounter_->Unmount(target).ok()) << target;
  }
  EXPECT_TRUE(mounter_->FindMount(mnt).ok());  // the staging mount is untouched
}

TEST_F(MounterIntegrationTest, BindsADeviceNodeOntoAFile) {
  std::string device;
  ASSERT_NO_FATAL_FAILURE(Attach("block.img", 64 * kMiB, &device));
  const std::string target = Path("block", /*file=*/true);

  absl::Status bound = mounter_->BindMount(device, target, /*read_only=*/false, {});
  ASSERT_TRUE(bound.ok()) << bound;
  absl::StatusOr<MountEntry> entry = mounter_->FindMount(target);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->root, device.substr(std::string("/dev").size()));  // "/loopN" in devtmpfs
  EXPECT_EQ(entry->fs_type, "devtmpfs");
  EXPECT_THAT(entry->mount_options, Contains("nosuid"));
  // nodev here would make the node unopenable (EACCES), so it is left off.
  EXPECT_THAT(entry->mount_options, Not(Contains("nodev")));

  struct stat st {};
  struct stat device_st {};
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  ASSERT_EQ(stat(device.c_str(), &device_st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(st.st_rdev, device_st.st_rdev);
  const int fd = open(target.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoName(errno);
  char block[4096] = "written through the bind";
  EXPECT_EQ(pwrite(fd, block, sizeof(block), 0), static_cast<ssize_t>(sizeof(block)));
  close(fd);
  EXPECT_EQ(ReadFile(files_[device]).substr(0, 24), "written through the bind");

  ASSERT_TRUE(mounter_->Unmount(target).ok());
  EXPECT_EQ(mounter_->FindMount(target).status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_TRUE(mounter_->Unmount(target).ok());
}

// What callers must know: MS_RDONLY on the bind of a device node stops nothing, since the
// kernel checks a mount's read-only flag for files, not for the devices they name. A
// read-only block volume needs a read-only device (a read-only dm-crypt mapping).
TEST_F(MounterIntegrationTest, AReadOnlyBindOfADeviceNodeStillAcceptsWrites) {
  std::string device;
  ASSERT_NO_FATAL_FAILURE(Attach("block.img", 64 * kMiB, &device));
  const std::string target = Path("block", /*file=*/true);
  absl::Status bound = mounter_->BindMount(device, target, /*read_only=*/true, {});
  ASSERT_TRUE(bound.ok()) << bound;
  EXPECT_TRUE(mounter_->FindMount(target)->read_only());
  const int fd = open(target.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoName(errno);
  char block[4096] = "not stopped";
  EXPECT_EQ(pwrite(fd, block, sizeof(block), 0), static_cast<ssize_t>(sizeof(block)));
  close(fd);
  EXPECT_EQ(ReadFile(files_[device]).substr(0, 11), "not stopped");
  ASSERT_TRUE(mounter_->Unmount(target).ok());
}

TEST_F(MounterIntegrationTest, BindOfAMissingSourceOrOntoAMissingTargetFails) {
  const std::string target = Path("t");
  absl::Status bound = mounter_->BindMount(dir_ + "/missing", target, false, {});
  EXPECT_EQ(bound.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bound.message(), HasSubstr(dir_ + "/missing"));
  EXPECT_THAT(bound.message(), HasSubstr("ENOENT"));
  bound = mounter_->BindMount(target, dir_ + "/nowhere", false, {});
  EXPECT_EQ(bound.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bound.message(), HasSubstr("ENOENT"));
  bound = mounter_->BindMount(target, Path("file", /*file=*/true), false, {});
  EXPECT_EQ(bound.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bound.message(), HasSubstr("ENOTDIR"));
  EXPECT_THAT(bound.message(), HasSubstr("must be of the same kind"));
  EXPECT_EQ(mounter_->BindMount(target, target, false, {"a,b"}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mounter_->FindMount(target).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MounterIntegrationTest, UnmountingABusyMountIsUnavailable) {
  std::string device;
  std::string mnt;
  ASSERT_NO_FATAL_FAILURE(MountNew(kExt4, 256 * kMiB, &device, &mnt));
  const int fd = open((mnt + "/held").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  absl::Status busy = mounter_->Unmount(mnt);
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable) << busy;
  EXPECT_THAT(busy.message(), HasSubstr(mnt));
  EXPECT_THAT(busy.message(), HasSubstr("EBUSY"));
  EXPECT_TRUE(mounter_->FindMount(mnt).ok());  // still mounted
  close(fd);
  absl::Status unmounted = mounter_->Unmount(mnt);
  EXPECT_TRUE(unmounted.ok()) << unmounted;
  EXPECT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MounterIntegrationTest, UnmountingWhatIsNotMountedIsOk) {
  const std::string plain = Path("plain");
  EXPECT_TRUE(mounter_->Unmount(plain).ok());
  EXPECT_TRUE(mounter_->Unmount(dir_ + "/does-not-exist").ok());
}

TEST_F(MounterIntegrationTest, RefusesBadMountOptions) {
  std::string device;
  ASSERT_NO_FATAL_FAILURE(Attach("ext4.img", 256 * kMiB, &device));
  ASSERT_TRUE(mounter_->MakeFilesystem(device, kExt4).ok());
  const std::string mnt = Path("mnt");

  absl::Status comma = mounter_->Mount(device, mnt, kExt4, {"noexec", "ro,exec"});
  EXPECT_EQ(comma.code(), absl::StatusCode::kInvalidArgument) << comma;
  EXPECT_THAT(comma.message(), HasSubstr(mnt));
  EXPECT_THAT(comma.message(), HasSubstr("ro,exec"));
  EXPECT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);

  // An option ext4 does not know reaches the kernel as data, which refuses it.
  absl::Status unknown = mounter_->Mount(device, mnt, kExt4, {"no_such_option"});
  EXPECT_EQ(unknown.code(), absl::StatusCode::kFailedPrecondition) << unknown;
  EXPECT_THAT(unknown.message(), HasSubstr("EINVAL"));
  EXPECT_THAT(unknown.message(), HasSubstr("no_such_option"));
  EXPECT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MounterIntegrationTest, MountingTheWrongFilesystemFails) {
  std::string device;
  ASSERT_NO_FATAL_FAILURE(Attach("blank.img", 64 * kMiB, &device));
  const std::string mnt = Path("mnt");
  absl::Status mounted = mounter_->Mount(device, mnt, kExt4, {});
  EXPECT_EQ(mounted.code(), absl::StatusCode::kFailedPrecondition) << mounted;
  EXPECT_THAT(mounted.message(), HasSubstr(device));
  EXPECT_THAT(mounted.message(), HasSubstr("EINVAL"));
  EXPECT_EQ(mounter_->FindMount(mnt).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MounterIntegrationTest, MakeFilesystemRefusesOtherTypesAndReportsToolFailures) {
  std::string device;
  ASSERT_NO_FATAL_FAILURE(Attach("small.img", 256 * kMiB, &device));
  absl::Status btrfs = mounter_->MakeFilesystem(device, "btrfs");
  EXPECT_EQ(btrfs.code(), absl::StatusCode::kInvalidArgument) << btrfs;
  EXPECT_THAT(btrfs.message(), HasSubstr("btrfs"));
  EXPECT_THAT(btrfs.message(), HasSubstr(device));
  EXPECT_EQ(mounter_->GrowFilesystem(device, dir_, "btrfs").code(),
            absl::StatusCode::kInvalidArgument);

  // xfsprogs 6 makes nothing under 300 MB: its stderr comes back in the message.
  absl::Status small = mounter_->MakeFilesystem(device, kXfs);
  EXPECT_EQ(small.code(), absl::StatusCode::kInternal) << small;
  EXPECT_THAT(small.message(), HasSubstr("mkfs.xfs -f -q -K " + device));
  EXPECT_THAT(small.message(), HasSubstr("exited with status 1"));
  EXPECT_THAT(small.message(), HasSubstr("Filesystem must be larger than 300MB"));

  // mkfs.ext4 -F still refuses a mounted device.
  ASSERT_TRUE(mounter_->MakeFilesystem(device, kExt4).ok());
  const std::string mnt = Path("mnt");
  ASSERT_TRUE(mounter_->Mount(device, mnt, kExt4, {}).ok());
  absl::Status mounted = mounter_->MakeFilesystem(device, kExt4);
  EXPECT_EQ(mounted.code(), absl::StatusCode::kInternal) << mounted;
  EXPECT_THAT(mounted.message(), HasSubstr("mkfs.ext4 -F -q -E nodiscard,lazy_itable_init=1"));
  EXPECT_THAT(mounted.message(), HasSubstr("is mounted"));
}

TEST_F(MounterIntegrationTest, MissingToolsAreNamed) {
  std::unique_ptr<Mounter> bare = MakeSystemMounter({dir_});
  absl::Status made = bare->MakeFilesystem("/dev/null", kXfs);
  EXPECT_EQ(made.code(), absl::StatusCode::kFailedPrecondition) << made;
  EXPECT_THAT(made.message(), HasSubstr("mkfs.xfs is not in " + dir_));
  EXPECT_THAT(made.message(), HasSubstr("xfsprogs"));
  absl::Status grown = bare->GrowFilesystem("/dev/null", dir_, kExt4);
  EXPECT_THAT(grown.message(), HasSubstr("resize2fs is not in " + dir_));
  EXPECT_THAT(grown.message(), HasSubstr("e2fsprogs"));
}

class GrowTest : public MounterIntegrationTest,
                 public ::testing::WithParamInterface<std::string_view> {};

TEST_P(GrowTest, GrowsToFillTheDevice) {
  const std::string_view fs_type = GetParam();
  std::string device;
  std::string mnt;
  ASSERT_NO_FATAL_FAILURE(MountNew(fs_type, 512 * kMiB, &device, &mnt));
  absl::StatusOr<FilesystemUsage> before = mounter_->Usage(mnt);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(before->total_bytes, 400 * kMiB);
  EXPECT_LE(before->total_bytes, 512 * kMiB);

  // Growing without a bigger device changes nothing and is not an error.
  absl::Status same = mounter_->GrowFilesystem(device, mnt, fs_type);
  EXPECT_TRUE(same.ok()) << same;
  EXPECT_EQ(mounter_->Usage(mnt)->total_bytes, before->total_bytes);

  ASSERT_NO_FATAL_FAILURE(GrowBacking(device, 1024 * kMiB));
  absl::Status grown = mounter_->GrowFilesystem(device, mnt, fs_type);
  if (fs_type == kExt4 && !HasCapability(CAP_SYS_RESOURCE)) {
    // Some sandboxes drop CAP_SYS_RESOURCE even for root; the operator is told what to do.
    EXPECT_EQ(grown.code(), absl::StatusCode::kInternal) << grown;
    EXPECT_THAT(grown.message(), HasSubstr("/usr/sbin/resize2fs " + device));
    EXPECT_THAT(grown.message(), HasSubstr("Permission denied to resize filesystem"));
    EXPECT_THAT(grown.message(), HasSubstr("needs CAP_SYS_RESOURCE"));
    GTEST_SKIP() << "no CAP_SYS_RESOURCE here: online ext4 growth is left to the VM tier";
  }
  ASSERT_TRUE(grown.ok()) << grown;
  absl::StatusOr<FilesystemUsage> after = mounter_->Usage(mnt);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GT(after->total_bytes, before->total_bytes + 400 * kMiB);
  EXPECT_LE(after->total_bytes, 1024 * kMiB);
  EXPECT_GT(after->total_inodes, 0u);
}

INSTANTIATE_TEST_SUITE_P(Filesystems, GrowTest, ::testing::Values(kExt4, kXfs),
                         [](const auto& test) { return std::string(test.param); });

TEST_F(MounterIntegrationTest, UsageCountsBytesAndInodes) {
  std::string device;
  std::string mnt;
  ASSERT_NO_FATAL_FAILURE(MountNew(kExt4, 256 * kMiB, &device, &mnt));
  absl::StatusOr<FilesystemUsage> before = mounter_->Usage(mnt);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_LE(before->used_bytes, before->total_bytes);
  EXPECT_LE(before->available_bytes, before->total_bytes - before->used_bytes);
  EXPECT_GT(before->available_inodes, 1000u);
  EXPECT_EQ(before->used_inodes, before->total_inodes - before->available_inodes);

  ASSERT_EQ(WriteFile(mnt + "/ten", std::string(10 * kMiB, 'x')), 0);
  ASSERT_EQ(WriteFile(mnt + "/empty", ""), 0);
  absl::StatusOr<FilesystemUsage> after = mounter_->Usage(mnt);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->total_bytes, before->total_bytes);
  EXPECT_GE(after->used_bytes, before->used_bytes + 10 * kMiB);
  EXPECT_LT(after->used_bytes, before->used_bytes + 11 * kMiB);
  EXPECT_EQ(after->used_inodes, before->used_inodes + 2);

  absl::StatusOr<FilesystemUsage> missing = mounter_->Usage(dir_ + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/missing"));
}

TEST_F(MounterIntegrationTest, FindMountReturnsTheTopmostOfStackedMounts) {
  std::string device;
  std::string mnt;
  ASSERT_NO_FATAL_FAILURE(MountNew(kExt4, 256 * kMiB, &device, &mnt));
  ASSERT_EQ(mount("none", mnt.c_str(), "tmpfs", 0, "size=64k"), 0) << ErrnoName(errno);
  absl::StatusOr<MountEntry> top = mounter_->FindMount(mnt);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->fs_type, "tmpfs");
  ASSERT_TRUE(mounter_->Unmount(mnt).ok());
  top = mounter_->FindMount(mnt);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->fs_type, "ext4");
  EXPECT_EQ(mounter_->FindMount("relative/path").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloak::node
