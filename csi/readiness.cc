#include "csi/readiness.h"

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fmt/format.h"

namespace cloak::csi {
namespace {

class DeviceMapper final : public ReadinessCheck {
 public:
  explicit DeviceMapper(std::string control_path) : control_path_(std::move(control_path)) {}

  // The node exists on some hosts whose kernel lacks device-mapper, so the check asks
  // the kernel itself: DM_VERSION succeeds only when the driver is loaded.
  absl::Status Check() const override {
    struct stat st {};
    if (stat(control_path_.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
      return Unavailable("is missing");
    }
    const int fd = open(control_path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Unavailable(fmt::format("cannot be opened: {}", std::strerror(errno)));
    dm_ioctl request{};
    request.version[0] = DM_VERSION_MAJOR;
    request.data_size = sizeof(request);
    const int result = ioctl(fd, DM_VERSION, &request);
    const int error_number = errno;
    close(fd);
    if (result != 0) {
      return Unavailable(
          fmt::format("does not answer DM_VERSION: {}", std::strerror(error_number)));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Unavailable(std::string_view why) const {
    return absl::FailedPreconditionError(fmt::format(
        "device-mapper is not available ({} {}): load the dm_mod, dm_crypt and dm_integrity "
        "kernel modules on this node",
        control_path_, why));
  }

 public:
 private:
  std::string control_path_;
};

class WritableDirectory final : public ReadinessCheck {
 public:
  WritableDirectory(std::string directory, std::string purpose)
      : directory_(std::move(directory)), purpose_(std::move(purpose)) {}

  absl::Status Check() const override {
    struct stat st {};
    if (stat(directory_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(fmt::format(
          "{} directory {} does not exist: create it or point the flag at an existing one",
          purpose_, directory_));
    }
    if (access(directory_.c_str(), W_OK | X_OK) != 0) {
      return absl::FailedPreconditionError(
          fmt::format("{} directory {} is not writable ({}): fix its ownership or mode", purpose_,
                      directory_, std::strerror(errno)));
    }
    return absl::OkStatus();
  }

 private:
  std::string directory_;
  std::string purpose_;
};

}  // namespace

std::unique_ptr<ReadinessCheck> DeviceMapperCheck(std::string control_path) {
  return std::make_unique<DeviceMapper>(std::move(control_path));
}

std::unique_ptr<ReadinessCheck> WritableDirectoryCheck(std::string directory, std::string purpose) {
  return std::make_unique<WritableDirectory>(std::move(directory), std::move(purpose));
}

absl::Status CheckAll(const std::vector<std::unique_ptr<ReadinessCheck>>& checks) {
  for (const auto& check : checks) {
    if (absl::Status status = check->Check(); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace cloak::csi
