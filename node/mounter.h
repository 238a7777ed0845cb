#pragma once

// Mounter: the filesystem side of staging and publishing — mounts, bind mounts, mkfs,
// online growth and usage. SystemMounter (mounter_impl.h) is the real one: mount(2) and
// umount2(2) directly, mkfs and the grow tools through fork/exec with a fixed argv
// (never a shell), and /proc/self/mountinfo for what is mounted. Tests of NodeService
// use a fake. Thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::node {

// One line of /proc/self/mountinfo (proc(5)), octal escapes (\040 etc.) decoded.
struct MountEntry {
  std::string device_number;  // "major:minor" of the mounted filesystem's device
  std::string root;           // root of the mount within its filesystem ("/" or a bind subpath)
  std::string target;         // mount point
  std::vector<std::string> mount_options;  // per-mount options, e.g. {"rw", "nosuid", "relatime"}
  std::string fs_type;                     // e.g. "ext4", "xfs", "devtmpfs"
  std::string source;                      // e.g. "/dev/mapper/cloak-vol1"
  std::vector<std::string> super_options;  // per-superblock options

  bool read_only() const;  // "ro" among mount_options

  friend bool operator==(const MountEntry&, const MountEntry&) = default;
};

struct FilesystemUsage {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;  // to unprivileged users (f_bavail)
  std::uint64_t used_bytes = 0;       // total - free (f_blocks - f_bfree)
  std::uint64_t total_inodes = 0;
  std::uint64_t available_inodes = 0;
  std::uint64_t used_inodes = 0;
};

// Parses the text of /proc/self/mountinfo. INVALID_ARGUMENT naming the line for a
// malformed one (fewer than 10 fields, no " - " separator).
absl::StatusOr<std::vector<MountEntry>> ParseMountInfo(std::string_view text);

// The filesystems NodeService supports; anything else is INVALID_ARGUMENT upstream.
inline constexpr std::string_view kExt4 = "ext4";
inline constexpr std::string_view kXfs = "xfs";

class Mounter {
 public:
  virtual ~Mounter() = default;

  // The topmost mount whose mount point is exactly `target` (after resolving `target`
  // lexically: no trailing slash). NOT_FOUND when nothing is mounted there.
  virtual absl::StatusOr<MountEntry> FindMount(const std::string& target) = 0;

  // Mounts block device `device` at existing directory `target` as `fs_type`. `options`
  // are CSI mount flags: the generic ones (ro, rw, nosuid, nodev, noexec, noatime,
  // nodiratime, relatime, strictatime, sync, dirsync, lazytime) become MS_* flags, the
  // rest is passed to the filesystem as its data string (comma-joined). Always adds
  // nosuid and nodev. INVALID_ARGUMENT for an option containing ',' or '\0';
  // FAILED_PRECONDITION naming errno otherwise (e.g. the filesystem does not mount).
  virtual absl::Status Mount(const std::string& device, const std::string& target,
                             std::string_view fs_type, const std::vector<std::string>& options) = 0;

  // Bind-mounts `source` (directory or file, e.g. a mapper device node) onto `target`
  // (an existing directory or file of the same kind), then remounts the bind with
  // MS_REMOUNT|MS_BIND and the flags of `options` plus MS_RDONLY when `read_only` (a
  // bind mount ignores flags on the first call). On a failed remount the bind is undone.
  virtual absl::Status BindMount(const std::string& source, const std::string& target,
                                 bool read_only, const std::vector<std::string>& options) = 0;

  // Unmounts `target` (not lazily, no MNT_FORCE). OK when nothing is mounted there.
  // UNAVAILABLE when busy (EBUSY).
  virtual absl::Status Unmount(const std::string& target) = 0;

  // Creates an `fs_type` filesystem (ext4 or xfs) on `device`: `mkfs.ext4 -F -q -E
  // nodiscard,lazy_itable_init=1 DEVICE` or `mkfs.xfs -f -q -K DEVICE` (no discard: it
  // would leak the allocation map through the ciphertext). INVALID_ARGUMENT for another
  // type; INTERNAL with the tool's exit status and the last lines of its stderr.
  virtual absl::Status MakeFilesystem(const std::string& device, std::string_view fs_type) = 0;

  // Grows the `fs_type` filesystem of `device`, mounted at `mount_path`, to fill the
  // device: `resize2fs DEVICE` or `xfs_growfs MOUNT_PATH`. Same errors as MakeFilesystem.
  virtual absl::Status GrowFilesystem(const std::string& device, const std::string& mount_path,
                                      std::string_view fs_type) = 0;

  // statvfs(3) of `path`. NOT_FOUND when it does not exist.
  virtual absl::StatusOr<FilesystemUsage> Usage(const std::string& path) = 0;
};

// The real mounter. `tool_dirs` are searched, in order, for mkfs.ext4, mkfs.xfs,
// resize2fs and xfs_growfs (default: /usr/sbin, /sbin, /usr/bin, /bin).
std::unique_ptr<Mounter> MakeSystemMounter(std::vector<std::string> tool_dirs = {});

}  // namespace cloak::node
