// The only file that includes <blkid/blkid.h>.

#include "crypt/block_devices_impl.h"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

absl::StatusOr<std::uint64_t> SizeOf(int fd, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, "stat " + path);
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  if (!S_ISBLK(st.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("{} is neither a block device nor a regular file", path));
  }
  std::uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) != 0) return ErrnoToStatus(errno, "size of " + path);
  return size;
}

class DirectWriter final : public BlockWriter {
 public:
  DirectWriter(int fd, std::string path, std::uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}

  std::uint64_t size() const override { return size_; }

  absl::Status Write(std::uint64_t offset, std::span<const std::uint8_t> data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = pwrite(fd_.get(), data.data() + done, data.size() - done,
                               static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoToStatus(errno, fmt::format("write {} at {}", path_, offset + done));
      if (n == 0) return absl::DataLossError(fmt::format("write {}: no progress", path_));
      done += static_cast<std::size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    if (fsync(fd_.get()) != 0) return ErrnoToStatus(errno, "flush " + path_);
    return absl::OkStatus();
  }

 private:
  UniqueFd fd_;
  std::string path_;
  std::uint64_t size_;
};

class SystemBlockDevices final : public BlockDevices {
 public:
  absl::StatusOr<std::vector<std::string>> ProbeSignatures(const std::string& path) override {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoToStatus(errno, "open " + path + " to probe it");
    blkid_probe probe = blkid_new_probe();
    if (probe == nullptr) return absl::ResourceExhaustedError("libblkid: cannot create a probe");
    std::vector<std::string> found;
    absl::Status status = absl::OkStatus();
    if (blkid_probe_set_device(probe, fd.get(), 0, 0) != 0) {
      status = absl::InternalError(fmt::format("libblkid cannot probe {}", path));
    } else {
      blkid_probe_enable_superblocks(probe, 1);
      blkid_probe_set_superblocks_flags(
          probe, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
      blkid_probe_enable_partitions(probe, 1);
      blkid_probe_set_partitions_flags(probe, BLKID_PARTS_MAGIC);
      // Walk every signature, as wipefs does, not only the first unambiguous one.
      int r = 0;
      while ((r = blkid_do_probe(probe)) == 0) {
        const char* value = nullptr;
        if (blkid_probe_lookup_value(probe, "TYPE", &value, nullptr) == 0 && value != nullptr) {
          found.emplace_back(value);
        } else if (blkid_probe_lookup_value(probe, "PTTYPE", &value, nullptr) == 0 &&
                   value != nullptr) {
          found.emplace_back(value);
        }
      }
      if (r < 0) status = absl::InternalError(fmt::format("libblkid failed to probe {}", path));
    }
    blkid_free_probe(probe);
    if (!status.ok()) return status;
    return found;
  }

  absl::StatusOr<DeviceNumber> Number(const std::string& path) override {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat " + path);
    if (!S_ISBLK(st.st_mode)) {
      return absl::FailedPreconditionError(fmt::format(
          "{} is not a block device; attach an image file to a loop device first", path));
    }
    return DeviceNumber{major(st.st_rdev), minor(st.st_rdev)};
  }

  absl::StatusOr<std::uint64_t> SizeBytes(const std::string& path) override {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoToStatus(errno, "open " + path);
    return SizeOf(fd.get(), path);
  }

  absl::StatusOr<std::unique_ptr<BlockWriter>> OpenWriter(const std::string& path) override {
    const int fd = open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, "open " + path + " for writing");
    auto size = SizeOf(fd, path);
    if (!size.ok()) {
      close(fd);
      return size.status();
    }
    return std::make_unique<DirectWriter>(fd, path, *size);
  }
};

}  // namespace

std::unique_ptr<BlockDevices> NewSystemBlockDevices() {
  return std::make_unique<SystemBlockDevices>();
}

}  // namespace cloak::crypt
