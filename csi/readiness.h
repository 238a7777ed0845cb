#pragma once

// What Probe checks: each mode's dependencies, as small named checks.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cloak::csi {

class ReadinessCheck {
 public:
  virtual ~ReadinessCheck() = default;
  // OK when the dependency is usable; otherwise FAILED_PRECONDITION or UNAVAILABLE
  // with a message that names the dependency and the fix. Thread-safe.
  virtual absl::Status Check() const = 0;
};

// The kernel's device-mapper control node (/dev/mapper/control by default) exists and
// answers the DM_VERSION ioctl: dm-crypt and dm-integrity can be set up.
std::unique_ptr<ReadinessCheck> DeviceMapperCheck(std::string control_path = "/dev/mapper/control");

// `directory` exists and this process can create files in it.
std::unique_ptr<ReadinessCheck> WritableDirectoryCheck(std::string directory, std::string purpose);

// Runs every check; the first failure wins.
absl::Status CheckAll(const std::vector<std::unique_ptr<ReadinessCheck>>& checks);

}  // namespace cloak::csi
