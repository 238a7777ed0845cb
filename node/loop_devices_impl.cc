// The only file that issues loop ioctls (<linux/loop.h>).

#include "node/loop_devices_impl.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"
#include "node/loop_sysfs.h"

namespace cloak::node {
namespace {

constexpr std::uint32_t kBlockSize = 4096;
constexpr unsigned kLoopMajor = 7;  // LOOP_MAJOR in <linux/major.h>
// Attempts at binding a free device when other processes keep taking it first.
constexpr int kBindAttempts = 16;
// How long Detach waits for the kernel to tear a device down after LOOP_CLR_FD (a
// transient opener such as udev's blkid delays it).
constexpr auto kDetachWait = std::chrono::seconds(1);
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string ErrnoText(int error_number) {
  char buffer[256];
  return strerror_r(error_number, buffer, sizeof(buffer));  // the GNU variant
}

bool SameFile(const loop_info64& info, std::uint64_t dev, std::uint64_t ino) {
  return info.lo_device == dev && info.lo_inode == ino;
}

// LOOP_GET_STATUS64 of loop device `number`; NOT_FOUND when it is not bound to a file.
absl::StatusOr<loop_info64> GetStatus(int number) {
  const std::string device = LoopDevicePath(number);
  UniqueFd loop(open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (loop.get() < 0 && errno == ENOENT) {
    return absl::FailedPreconditionError(
        fmt::format("{} is missing although the kernel has it; give the plugin the host's /dev "
                    "(devtmpfs)",
                    device));
  }
  if (loop.get() < 0 && errno == ENXIO) {
    return absl::NotFoundError(fmt::format("{} is being detached", device));
  }
  if (loop.get() < 0) return ErrnoToStatus(errno, "open " + device);
  loop_info64 info{};
  if (ioctl(loop.get(), LOOP_GET_STATUS64, &info) != 0) {
    if (errno == ENXIO) return absl::NotFoundError(fmt::format("{} is not attached", device));
    return ErrnoToStatus(errno, "LOOP_GET_STATUS64 on " + device);
  }
  return info;
}

struct Attached {
  int number;
  loop_info64 info;
};

// The loop devices bound to the file `file` describes, by device and inode (paths in
// sysfs and lo_file_name can differ or be truncated), ascending.
absl::StatusOr<std::vector<Attached>> AttachedTo(const struct stat& file) {
  ASSIGN_OR_RETURN(std::vector<int> numbers, LoopDeviceNumbers());
  std::vector<Attached> found;
  for (int number : numbers) {
    if (!LoopDeviceBound(number)) continue;
    auto info = GetStatus(number);
    if (absl::IsNotFound(info.status())) continue;
    if (!info.ok()) return info.status();
    if (SameFile(*info, file.st_dev, file.st_ino)) found.push_back({number, *info});
  }
  return found;
}

// stat(2) of `path`, which must be a regular file of whole 4096-byte blocks.
absl::StatusOr<struct stat> StatBackingFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(fmt::format("backing file {} does not exist", path));
    }
    return ErrnoToStatus(errno, "stat backing file " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not a regular file; a local volume's backing file must be one", path));
  }
  if (st.st_size % kBlockSize != 0) {
    return absl::FailedPreconditionError(
        fmt::format("backing file {} is {} bytes, not a multiple of {}; resize it to whole "
                    "{}-byte blocks",
                    path, st.st_size, kBlockSize, kBlockSize));
  }
  return st;
}

// Checks that `fd`, opened from `path`, is still the file `expected` describes.
absl::Status CheckSameFile(const UniqueFd& fd, const std::string& path,
                           const struct stat& expected) {
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "stat backing file " + path);
  if (st.st_dev != expected.st_dev || st.st_ino != expected.st_ino) {
    return absl::UnavailableError(
        fmt::format("backing file {} was replaced while it was being attached; retry", path));
  }
  return absl::OkStatus();
}

// An exclusive flock(2) on `path` (its own open file description, never the one a loop
// device holds, which would keep the lock for as long as the device lives): serializes
// Attach and Detach of one file across threads and processes.
absl::StatusOr<UniqueFd> LockFile(const std::string& path, const struct stat& expected) {
  UniqueFd lock(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (lock.get() < 0) return ErrnoToStatus(errno, "open backing file " + path + " to lock it");
  RETURN_IF_ERROR(CheckSameFile(lock, path, expected));
  while (flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoToStatus(errno, "lock backing file " + path);
  }
  return lock;
}

struct BackingFile {
  UniqueFd fd;
  bool direct_io;
};

// `path` opened read-write for the loop device, with O_DIRECT where the filesystem has it.
absl::StatusOr<BackingFile> OpenBackingFile(const std::string& path, const struct stat& expected) {
  bool direct_io = true;
  int fd = open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) {  // no O_DIRECT here: the device uses the page cache
    direct_io = false;
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  UniqueFd file(fd);
  if (fd < 0) return ErrnoToStatus(errno, "open backing file " + path + " read-write");
  RETURN_IF_ERROR(CheckSameFile(file, path, expected));
  return BackingFile{std::move(file), direct_io};
}

void SetFileName(const std::string& path, loop_info64& info) {
  // Informational only (lo_file_name is 64 bytes); the inode identifies the file.
  const std::size_t n = std::min(path.size(), sizeof(info.lo_file_name) - 1);
  std::memcpy(info.lo_file_name, path.data(), n);
}

// The outcome of configuring one free device: bound, or taken by someone else first.
enum class Bind { kBound, kTaken };

// LOOP_SET_FD + LOOP_SET_BLOCK_SIZE + LOOP_SET_DIRECT_IO + LOOP_SET_STATUS64, for
// kernels without LOOP_CONFIGURE; detaches again when a later step fails.
absl::StatusOr<Bind> BindStepwise(int loop, const BackingFile& file, const std::string& path,
                                  const std::string& device) {
  if (ioctl(loop, LOOP_SET_FD, static_cast<unsigned long>(file.fd.get())) != 0) {
    if (errno == EBUSY) return Bind::kTaken;
    return ErrnoToStatus(errno, fmt::format("attach {} to {} (LOOP_SET_FD)", path, device));
  }
  const auto undo = [&](std::string_view step) {
    const int error_number = errno;
    ioctl(loop, LOOP_CLR_FD, 0UL);
    return ErrnoToStatus(error_number, fmt::format("{} on {} for {}", step, device, path));
  };
  if (ioctl(loop, LOOP_SET_BLOCK_SIZE, static_cast<unsigned long>(kBlockSize)) != 0) {
    return undo("LOOP_SET_BLOCK_SIZE 4096");
  }
  // EINVAL: the backing filesystem cannot do direct I/O at this block size; stay buffered.
  if (file.direct_io && ioctl(loop, LOOP_SET_DIRECT_IO, 1UL) != 0 && errno != EINVAL) {
    return undo("LOOP_SET_DIRECT_IO");
  }
  loop_info64 info{};
  SetFileName(path, info);
  if (ioctl(loop, LOOP_SET_STATUS64, &info) != 0) return undo("LOOP_SET_STATUS64");
  return Bind::kBound;
}

absl::StatusOr<Bind> BindDevice(int loop, const BackingFile& file, const std::string& path,
                                const std::string& device, bool use_loop_configure) {
  if (!use_loop_configure) return BindStepwise(loop, file, path, device);
  loop_config config{};
  config.fd = static_cast<std::uint32_t>(file.fd.get());
  config.block_size = kBlockSize;
  // Not LO_FLAGS_AUTOCLEAR: the device outlives the plugin's process.
  config.info.lo_flags = file.direct_io ? LO_FLAGS_DIRECT_IO : 0;
  SetFileName(path, config.info);
  if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) return Bind::kBound;
  if (errno == EBUSY) return Bind::kTaken;
  // Kernels before 5.8 answer an unknown loop ioctl with EINVAL (or ENOTTY).
  if (errno == EINVAL || errno == ENOTTY) return BindStepwise(loop, file, path, device);
  return ErrnoToStatus(errno, fmt::format("attach {} to {} (LOOP_CONFIGURE)", path, device));
}

// Clears a deferred detach (LO_FLAGS_AUTOCLEAR, left by a Detach while the device was
// open) so that a reused device again outlives its last opener.
absl::Status KeepAttached(const Attached& attached) {
  if ((attached.info.lo_flags & LO_FLAGS_AUTOCLEAR) == 0) return absl::OkStatus();
  const std::string device = LoopDevicePath(attached.number);
  UniqueFd loop(open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (loop.get() < 0) return ErrnoToStatus(errno, "open " + device);
  loop_info64 info = attached.info;
  info.lo_flags &= ~static_cast<std::uint32_t>(LO_FLAGS_AUTOCLEAR);
  if (ioctl(loop.get(), LOOP_SET_STATUS64, &info) != 0) {
    if (errno == ENXIO) {
      return absl::UnavailableError(fmt::format("{} is being detached; retry", device));
    }
    return ErrnoToStatus(errno, "cancel the pending detach of " + device);
  }
  return absl::OkStatus();
}

// Clears a read-only flag an earlier user left on device `number` (`blockdev --setro`;
// the kernel keeps it across detach and reuse), under which every write to the volume
// would fail with EPERM. Volumes are always attached read-write.
absl::Status ClearStaleReadOnly(int number) {
  const std::string device = LoopDevicePath(number);
  UniqueFd loop(open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (loop.get() < 0) return ErrnoToStatus(errno, "open " + device);
  int read_only = 0;
  if (ioctl(loop.get(), BLKROGET, &read_only) != 0) {
    return ErrnoToStatus(errno, "read the read-only flag of " + device + " (BLKROGET)");
  }
  if (read_only == 0) return absl::OkStatus();
  const int writable = 0;
  if (ioctl(loop.get(), BLKROSET, &writable) != 0) {
    return ErrnoToStatus(errno, "clear the stale read-only flag of " + device + " (BLKROSET)");
  }
  return absl::OkStatus();
}

// Waits for the kernel to unbind `number` after LOOP_CLR_FD; UNAVAILABLE while another
// process keeps it open (the kernel then detaches it at that process's last close).
absl::Status AwaitDetached(int number, std::uint64_t dev, std::uint64_t ino) {
  const auto deadline = std::chrono::steady_clock::now() + kDetachWait;
  while (LoopDeviceBound(number) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kPollInterval);
  }
  if (!LoopDeviceBound(number)) return absl::OkStatus();
  auto info = GetStatus(number);
  if (absl::IsNotFound(info.status())) return absl::OkStatus();
  if (!info.ok()) return info.status();
  if (!SameFile(*info, dev, ino)) return absl::OkStatus();  // detached, then reused
  const std::string device = LoopDevicePath(number);
  return absl::UnavailableError(
      fmt::format("{} is still open in another process, so the kernel only marked it to detach "
                  "at its last close; close it (find it with `fuser -v {}`) and retry",
                  device, device));
}

// Detaches loop device `number` if it is still bound to the file (dev, ino).
absl::Status DetachDevice(int number, std::uint64_t dev, std::uint64_t ino) {
  const std::string device = LoopDevicePath(number);
  // The exclusive open fails while a filesystem or device-mapper holds the device, where
  // LOOP_CLR_FD would only arm a detach at their last close.
  UniqueFd loop(open(device.c_str(), O_RDONLY | O_CLOEXEC | O_EXCL));
  if (loop.get() < 0 && errno == ENXIO) return absl::OkStatus();  // already going away
  if (loop.get() < 0 && errno == EBUSY) {
    return absl::UnavailableError(fmt::format("{} is in use by {}; unmount or close that first",
                                              device, LoopDeviceHolders(number)));
  }
  if (loop.get() < 0) return ErrnoToStatus(errno, "open " + device + " to detach it");
  loop_info64 info{};
  if (ioctl(loop.get(), LOOP_GET_STATUS64, &info) != 0) {
    if (errno == ENXIO) return absl::OkStatus();
    return ErrnoToStatus(errno, "LOOP_GET_STATUS64 on " + device);
  }
  if (!SameFile(info, dev, ino)) return absl::OkStatus();  // detached, then reused
  if (ioctl(loop.get(), LOOP_CLR_FD, 0UL) != 0) {
    if (errno == ENXIO) return absl::OkStatus();
    if (errno == EBUSY) {
      return absl::UnavailableError(fmt::format("{} is in use by {}; unmount or close that first",
                                                device, LoopDeviceHolders(number)));
    }
    return ErrnoToStatus(errno, "detach " + device + " (LOOP_CLR_FD)");
  }
  loop.Close();  // the kernel tears the device down at its last close
  return AwaitDetached(number, dev, ino);
}

absl::Status DetachAll(const std::vector<Attached>& attached) {
  std::string busy;
  for (const Attached& device : attached) {
    absl::Status status = DetachDevice(device.number, device.info.lo_device, device.info.lo_inode);
    if (!absl::IsUnavailable(status)) RETURN_IF_ERROR(status);
    if (!status.ok()) busy += (busy.empty() ? "" : "; ") + std::string(status.message());
  }
  if (!busy.empty()) return absl::UnavailableError(busy);
  return absl::OkStatus();
}

// The loop devices whose backing file `path` was deleted while they held it (sysfs then
// reads "<path> (deleted)"); the inode is gone, so the path is all there is to match.
absl::StatusOr<std::vector<Attached>> AttachedToDeleted(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<int> numbers, LoopDeviceNumbers());
  std::vector<Attached> found;
  for (int number : numbers) {
    auto name = ReadSysfsAttribute(LoopSysfsPath(number, "loop/backing_file"));
    if (!name.ok() || *name != path + " (deleted)") continue;
    auto info = GetStatus(number);
    if (absl::IsNotFound(info.status())) continue;
    if (!info.ok()) return info.status();
    found.push_back({number, *info});
  }
  return found;
}

class SystemLoopDevices final : public LoopDevices {
 public:
  explicit SystemLoopDevices(const SystemLoopDevicesOptions& options) : options_(options) {}

  absl::StatusOr<LoopDevice> Attach(const std::string& backing_file) override {
    ASSIGN_OR_RETURN(struct stat st, StatBackingFile(backing_file));
    ASSIGN_OR_RETURN(UniqueFd lock, LockFile(backing_file, st));
    ASSIGN_OR_RETURN(std::vector<Attached> attached, AttachedTo(st));
    if (!attached.empty()) {
      RETURN_IF_ERROR(KeepAttached(attached.front()));
      RETURN_IF_ERROR(ClearStaleReadOnly(attached.front().number));
      return DescribeLoopDevice(attached.front().number);
    }
    ASSIGN_OR_RETURN(BackingFile file, OpenBackingFile(backing_file, st));
    ASSIGN_OR_RETURN(int number, BindFreeDevice(file, backing_file));
    // A failure here leaves the device attached; the retry finds and clears it.
    RETURN_IF_ERROR(ClearStaleReadOnly(number));
    return DescribeLoopDevice(number);
  }

  absl::StatusOr<LoopDevice> Find(const std::string& backing_file) override {
    struct stat st {};
    if (stat(backing_file.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return absl::NotFoundError(fmt::format(
            "backing file {} does not exist, so no loop device is attached to it", backing_file));
      }
      return ErrnoToStatus(errno, "stat backing file " + backing_file);
    }
    ASSIGN_OR_RETURN(std::vector<Attached> attached, AttachedTo(st));
    if (attached.empty()) {
      return absl::NotFoundError(fmt::format("no loop device is attached to {}", backing_file));
    }
    return DescribeLoopDevice(attached.front().number);
  }

  absl::Status Detach(const std::string& backing_file) override {
    struct stat st {};
    if (stat(backing_file.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR) {
        return ErrnoToStatus(errno, "stat backing file " + backing_file);
      }
      ASSIGN_OR_RETURN(std::vector<Attached> deleted, AttachedToDeleted(backing_file));
      return DetachAll(deleted);
    }
    ASSIGN_OR_RETURN(UniqueFd lock, LockFile(backing_file, st));
    ASSIGN_OR_RETURN(std::vector<Attached> attached, AttachedTo(st));
    return DetachAll(attached);
  }

  absl::Status RefreshCapacity(const std::string& device) override {
    struct stat st {};
    if (stat(device.c_str(), &st) != 0) {
      if (errno == ENOENT) return absl::NotFoundError(fmt::format("{} does not exist", device));
      return ErrnoToStatus(errno, "stat " + device);
    }
    if (!S_ISBLK(st.st_mode) || major(st.st_rdev) != kLoopMajor) {
      return absl::NotFoundError(fmt::format("{} is not a loop device", device));
    }
    UniqueFd loop(open(device.c_str(), O_RDONLY | O_CLOEXEC));
    if (loop.get() < 0 && errno == ENXIO) {
      return absl::NotFoundError(fmt::format("{} is not attached to a file", device));
    }
    if (loop.get() < 0) return ErrnoToStatus(errno, "open " + device);
    if (ioctl(loop.get(), LOOP_SET_CAPACITY, 0UL) != 0) {
      if (errno == ENXIO) {
        return absl::NotFoundError(fmt::format("{} is not attached to a file", device));
      }
      return ErrnoToStatus(errno, "re-read the backing file's size for " + device);
    }
    return absl::OkStatus();
  }

 private:
  // Binds a free device to `file`, taking the next free one when another process binds
  // the one LOOP_CTL_GET_FREE named first.
  absl::StatusOr<int> BindFreeDevice(const BackingFile& file, const std::string& path) {
    // Threads of this process take turns; only other processes can win the race.
    std::lock_guard<std::mutex> bind_lock(bind_mutex_);
    UniqueFd control(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (control.get() < 0) {
      return absl::FailedPreconditionError(fmt::format(
          "cannot open /dev/loop-control ({}); load the loop module and give the plugin the "
          "host's /dev",
          ErrnoText(errno)));
    }
    for (int attempt = 0; attempt < kBindAttempts; ++attempt) {
      const int number = ioctl(control.get(), LOOP_CTL_GET_FREE);
      if (number < 0) {
        return absl::UnavailableError(fmt::format(
            "no loop device is free for {} ({}); detach unused loop devices or raise the loop "
            "module's max_loop",
            path, ErrnoText(errno)));
      }
      const std::string device = LoopDevicePath(number);
      UniqueFd loop(open(device.c_str(), O_RDWR | O_CLOEXEC));
      if (loop.get() < 0 && errno == ENXIO) continue;  // torn down since GET_FREE
      if (loop.get() < 0) return ErrnoToStatus(errno, "open " + device);
      ASSIGN_OR_RETURN(Bind bind,
                       BindDevice(loop.get(), file, path, device, options_.use_loop_configure));
      if (bind == Bind::kBound) return number;
    }
    return absl::UnavailableError(
        fmt::format("every free loop device was taken by another process before {} could be "
                    "attached ({} attempts); retry",
                    path, kBindAttempts));
  }

  const SystemLoopDevicesOptions options_;
  std::mutex bind_mutex_;
};

}  // namespace

std::unique_ptr<LoopDevices> MakeSystemLoopDevices(const SystemLoopDevicesOptions& options) {
  return std::make_unique<SystemLoopDevices>(options);
}

std::unique_ptr<LoopDevices> MakeSystemLoopDevices() {
  return MakeSystemLoopDevices(SystemLoopDevicesOptions{});
}

}  // namespace cloak::node
