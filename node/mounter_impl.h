#pragma once

// SystemMounter, the real Mounter (mounter.h): mount(2), umount2(2), statvfs(3),
// /proc/self/mountinfo, and e2fsprogs / xfsprogs run through RunTool (run_tool.h).
// MakeSystemMounter builds one; the pure steps it takes are here for unit tests.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::node {

struct MountFlags {
  unsigned long flags = 0;  // MS_* for mount(2)
  std::string data;         // the filesystem's own options, comma-joined

  friend bool operator==(const MountFlags&, const MountFlags&) = default;
};

// Splits CSI mount options into mount(2) flags (the generic ones mounter.h lists; a later
// ro/rw or noatime/relatime/strictatime overrides an earlier one) and the data string (the
// rest, in order). Empty options are skipped. Adds nothing by itself: the caller adds
// MS_NOSUID|MS_NODEV. INVALID_ARGUMENT for an option containing ',' or '\0'.
absl::StatusOr<MountFlags> TranslateMountOptions(const std::vector<std::string>& options);

// `target` as FindMount compares it with mountinfo: lexically normal ("." and ".."
// resolved, repeated slashes collapsed, no symlinks followed), no trailing slash.
// INVALID_ARGUMENT when it is not absolute.
absl::StatusOr<std::string> NormalizeMountTarget(const std::string& target);

}  // namespace cloak::node
