// The only file that calls mount(2) and umount2(2).

#include "node/mounter_impl.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "node/mounter.h"
#include "node/run_tool.h"

namespace cloak::node {
namespace {

constexpr unsigned long kAtimeFlags = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;
// The flags a bind mount carries itself; the others belong to the superblock, which a
// bind shares with its source.
constexpr unsigned long kPerMountFlags =
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NODIRATIME | kAtimeFlags;

struct GenericOption {
  std::string_view name;
  unsigned long set;
  unsigned long clear;
};

constexpr GenericOption kGenericOptions[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"nodev", MS_NODEV, 0},
    {"noexec", MS_NOEXEC, 0},
    {"noatime", MS_NOATIME, kAtimeFlags},
    {"nodiratime", MS_NODIRATIME, 0},
    {"relatime", MS_RELATIME, kAtimeFlags},
    {"strictatime", MS_STRICTATIME, kAtimeFlags},
    {"sync", MS_SYNCHRONOUS, 0},
    {"dirsync", MS_DIRSYNC, 0},
    {"lazytime", MS_LAZYTIME, 0},
};

// "EBUSY (Device or resource busy)".
std::string ErrnoText(int error) {
  const char* name = strerrorname_np(error);
  const char* description = strerrordesc_np(error);
  return fmt::format("{} ({})", name != nullptr ? name : fmt::format("errno {}", error),
                     description != nullptr ? description : "unknown error");
}

std::string MountHint(int error, const std::string& device, const std::string& target,
                      std::string_view fs_type) {
  switch (error) {
    case EBUSY:
      return fmt::format("{} is already mounted, or in use by device-mapper or another mount",
                         device);
    case EINVAL:
      return fmt::format(
          "the options are wrong for {} or {} holds no {} filesystem; the kernel log (dmesg) "
          "names the reason",
          fs_type, device, fs_type);
    case ENODEV:
      return fmt::format("the kernel has no {} driver; load its module on the node", fs_type);
    case ENOENT:
      return fmt::format("{} or {} does not exist", target, device);
    case ENOTBLK:
      return fmt::format("{} is not a block device", device);
    case ENOTDIR:
      return fmt::format("{} is not a directory", target);
    case EPERM:
    case EACCES:
      return "the node plugin needs CAP_SYS_ADMIN: run its container privileged";
    case EROFS:
      return fmt::format("{} is read-only; mount it with the ro option", device);
    default:
      return "see the kernel log (dmesg)";
  }
}

std::string BindHint(int error, const std::string& source, const std::string& target) {
  switch (error) {
    case ENOENT:
      return fmt::format("{} does not exist; create it first", target);
    case ENOTDIR:
      return fmt::format(
          "{} and {} must be of the same kind: both directories, or a file (or device node) "
          "onto a file",
          source, target);
    case EPERM:
    case EACCES:
      return "the node plugin needs CAP_SYS_ADMIN: run its container privileged";
    default:
      return "see the kernel log (dmesg)";
  }
}

absl::StatusOr<std::string> ReadWholeFile(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, fmt::format("open {}", path));
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return ErrnoToStatus(error, fmt::format("read {}", path));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return text;
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "(no output)" : text;
}

class SystemMounter final : public Mounter {
 public:
  explicit SystemMounter(std::vector<std::string> tool_dirs) : tool_dirs_(std::move(tool_dirs)) {}

  absl::StatusOr<MountEntry> FindMount(const std::string& target) override {
    ASSIGN_OR_RETURN(const std::string normal, NormalizeMountTarget(target));
    ASSIGN_OR_RETURN(const std::string text, ReadWholeFile("/proc/self/mountinfo"));
    absl::StatusOr<std::vector<MountEntry>> entries = ParseMountInfo(text);
    if (!entries.ok()) {
      return absl::InternalError(fmt::format("cannot look for a mount at {}: {}", normal,
                                             std::string(entries.status().message())));
    }
    // Later lines are mounted later: the last match is the one on top.
    const auto found = std::find_if(entries->rbegin(), entries->rend(),
                                    [&](const MountEntry& e) { return e.target == normal; });
    if (found == entries->rend()) {
      return absl::NotFoundError(fmt::format("nothing is mounted at {}", normal));
    }
    return *found;
  }

  absl::Status Mount(const std::string& device, const std::string& target, std::string_view fs_type,
                     const std::vector<std::string>& options) override {
    absl::StatusOr<MountFlags> flags = TranslateMountOptions(options);
    if (!flags.ok()) return Annotate(flags.status(), fmt::format("mount {} at {}", device, target));
    const std::string type(fs_type);
    const char* data = flags->data.empty() ? nullptr : flags->data.c_str();
    if (mount(device.c_str(), target.c_str(), type.c_str(), flags->flags | MS_NOSUID | MS_NODEV,
              data) != 0) {
      const int error = errno;
      return absl::FailedPreconditionError(
          fmt::format("mount {} at {} as {} (data \"{}\"): {}; {}", device, target, type,
                      flags->data, ErrnoText(error), MountHint(error, device, target, fs_type)));
    }
    return absl::OkStatus();
  }

  absl::Status BindMount(const std::string& source, const std::string& target, bool read_only,
                         const std::vector<std::string>& options) override {
    const std::string what = fmt::format("bind-mount {} onto {}", source, target);
    absl::StatusOr<MountFlags> translated = TranslateMountOptions(options);
    if (!translated.ok()) return Annotate(translated.status(), what);
    struct stat st {};
    if (stat(source.c_str(), &st) != 0) {
      const int error = errno;
      return absl::FailedPreconditionError(
          fmt::format("{}: the source: {}; stage the volume first", what, ErrnoText(error)));
    }
    // The filesystem's own options were applied when it was mounted; a bind takes only
    // per-mount flags. nodev on the bind of a device node would make it unopenable.
    unsigned long flags = (translated->flags & kPerMountFlags) | MS_NOSUID;
    if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode)) flags |= MS_NODEV;
    if (read_only) flags |= MS_RDONLY;

    if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      const int error = errno;
      return absl::FailedPreconditionError(
          fmt::format("{}: {}; {}", what, ErrnoText(error), BindHint(error, source, target)));
    }
    // The first call ignores every flag but MS_BIND; the remount sets them (all of them:
    // what is not given is cleared).
    if (mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | flags, nullptr) != 0) {
      const int error = errno;
      std::string undone = "the bind was undone";
      if (umount2(target.c_str(), UMOUNT_NOFOLLOW) != 0) {
        undone = fmt::format("undoing the bind failed too ({}): unmount {} by hand",
                             ErrnoText(errno), target);
      }
      return absl::FailedPreconditionError(
          fmt::format("{}: remount with its flags: {}; {}", what, ErrnoText(error), undone));
    }
    return absl::OkStatus();
  }

  absl::Status Unmount(const std::string& target) override {
    // UMOUNT_NOFOLLOW: a symlink planted at `target` must not redirect the unmount.
    if (umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return absl::OkStatus();
    const int error = errno;
    if (error == EBUSY) {
      return absl::UnavailableError(fmt::format(
          "unmount {}: {}; a process still has a file or its working directory under it (find "
          "it with `fuser -vm {}`), retry once it is gone",
          target, ErrnoText(error), target));
    }
    if (error == EINVAL || error == ENOENT) {
      absl::StatusOr<MountEntry> mounted = FindMount(target);
      if (absl::IsNotFound(mounted.status())) return absl::OkStatus();
      if (!mounted.ok()) return Annotate(mounted.status(), fmt::format("unmount {}", target));
    }
    // EINVAL for what FindMount sees mounted: a symlink at `target`, or a mount locked
    // in by a user namespace.
    return absl::FailedPreconditionError(fmt::format(
        "unmount {}: {}; check that {} is not a symlink and that the driver runs in the "
        "initial user namespace; the kernel log (dmesg) may say more",
        target, ErrnoText(error), target));
  }

  absl::Status MakeFilesystem(const std::string& device, std::string_view fs_type) override {
    if (fs_type == kExt4) {
      return RunChecked("mkfs.ext4", {"-F", "-q", "-E", "nodiscard,lazy_itable_init=1", device});
    }
    if (fs_type == kXfs) return RunChecked("mkfs.xfs", {"-f", "-q", "-K", device});
    return UnsupportedType("make", fs_type, device);
  }

  absl::Status GrowFilesystem(const std::string& device, const std::string& mount_path,
                              std::string_view fs_type) override {
    if (fs_type == kExt4) {
      absl::Status grown = RunChecked("resize2fs", {device});
      // EXT4_IOC_RESIZE_FS checks CAP_SYS_RESOURCE, which CAP_SYS_ADMIN does not imply.
      if (!grown.ok() && grown.message().find("Permission denied") != absl::string_view::npos) {
        return absl::Status(grown.code(),
                            fmt::format("{}; growing a mounted ext4 needs CAP_SYS_RESOURCE: add it "
                                        "to the node plugin container's capabilities",
                                        std::string(grown.message())));
      }
      return grown;
    }
    if (fs_type == kXfs) return RunChecked("xfs_growfs", {mount_path});
    return UnsupportedType("grow", fs_type, device);
  }

  absl::StatusOr<FilesystemUsage> Usage(const std::string& path) override {
    struct statvfs s {};
    if (statvfs(path.c_str(), &s) != 0) return ErrnoToStatus(errno, "statvfs " + path);
    FilesystemUsage usage;
    usage.total_bytes = static_cast<std::uint64_t>(s.f_blocks) * s.f_frsize;
    usage.available_bytes = static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
    usage.used_bytes = static_cast<std::uint64_t>(s.f_blocks - s.f_bfree) * s.f_frsize;
    usage.total_inodes = s.f_files;
    usage.available_inodes = s.f_favail;
    usage.used_inodes = s.f_files - s.f_ffree;
    return usage;
  }

 private:
  static absl::Status UnsupportedType(std::string_view verb, std::string_view fs_type,
                                      const std::string& device) {
    return absl::InvalidArgumentError(
        fmt::format("cannot {} a \"{}\" filesystem on {}: Cloak supports {} and {}; set fsType "
                    "to one of them",
                    verb, fs_type, device, kExt4, kXfs));
  }

  absl::StatusOr<std::string> FindTool(const std::string& name) const {
    for (const std::string& dir : tool_dirs_) {
      std::string path = dir + "/" + name;
      if (access(path.c_str(), X_OK) == 0) return path;
    }
    return absl::FailedPreconditionError(
        fmt::format("{} is not in {}; install {} on the node", name, fmt::join(tool_dirs_, ", "),
                    name.find("xfs") != std::string::npos ? "xfsprogs" : "e2fsprogs"));
  }

  absl::Status RunChecked(const std::string& tool, const std::vector<std::string>& args) const {
    ASSIGN_OR_RETURN(const std::string program, FindTool(tool));
    ASSIGN_OR_RETURN(const ToolResult result, RunTool(program, args));
    if (result.exit_status == 0) return absl::OkStatus();
    const std::string ended = result.signal != 0
                                  ? fmt::format("was killed by signal {}", result.signal)
                                  : fmt::format("exited with status {}", result.exit_status);
    return absl::InternalError(
        fmt::format("`{}` {}: {}", CommandLine(program, args), ended, Trimmed(result.output)));
  }

  const std::vector<std::string> tool_dirs_;
};

}  // namespace

absl::StatusOr<MountFlags> TranslateMountOptions(const std::vector<std::string>& options) {
  MountFlags result;
  for (const std::string& option : options) {
    if (option.find(',') != std::string::npos || option.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format(
          "mount option \"{}\" contains ',' or NUL; give each option as its own mount flag",
          option));
    }
    if (option.empty()) continue;
    const auto generic = std::find_if(std::begin(kGenericOptions), std::end(kGenericOptions),
                                      [&](const GenericOption& g) { return g.name == option; });
    if (generic != std::end(kGenericOptions)) {
      result.flags = (result.flags & ~generic->clear) | generic->set;
    } else {
      if (!result.data.empty()) result.data += ",";
      result.data += option;
    }
  }
  return result;
}

absl::StatusOr<std::string> NormalizeMountTarget(const std::string& target) {
  if (target.empty() || target.front() != '/') {
    return absl::InvalidArgumentError(
        fmt::format("mount target \"{}\" is not an absolute path; give the full path", target));
  }
  std::string normal = std::filesystem::path(target).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

std::unique_ptr<Mounter> MakeSystemMounter(std::vector<std::string> tool_dirs) {
  if (tool_dirs.empty()) tool_dirs = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
  return std::make_unique<SystemMounter>(std::move(tool_dirs));
}

}  // namespace cloak::node
