#include "csi/readiness.h"

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

  absl::Status Check() const override {
    struct stat st {};
    if (stat(control_path_.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
      return absl::FailedPreconditionError(fmt::format(
          "device-mapper is not available ({} is missing): load the dm_mod, dm_crypt and "
          "dm_integrity kernel modules on this node",
          control_path_));
    }
    return absl::OkStatus();
  }

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
