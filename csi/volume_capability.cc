#include "csi/volume_capability.h"

#include "fmt/format.h"

namespace cloak::csi {

absl::Status CheckVolumeCapability(const ::csi::v1::VolumeCapability& capability,
                                   std::string_view field) {
  using AccessMode = ::csi::v1::VolumeCapability::AccessMode;
  switch (capability.access_mode().mode()) {
    case AccessMode::SINGLE_NODE_WRITER:
    case AccessMode::SINGLE_NODE_READER_ONLY:
    case AccessMode::SINGLE_NODE_SINGLE_WRITER:
    case AccessMode::SINGLE_NODE_MULTI_WRITER:
      break;
    default:
      return absl::InvalidArgumentError(fmt::format(
          "{}.access_mode {} is not supported: a Cloak volume is opened on one node at a time "
          "(use SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER or "
          "SINGLE_NODE_MULTI_WRITER)",
          field, AccessMode::Mode_Name(capability.access_mode().mode())));
  }
  if (capability.has_block()) return absl::OkStatus();
  if (!capability.has_mount()) {
    return absl::InvalidArgumentError(
        fmt::format("{} needs an access type, block or mount", field));
  }
  const std::string& fs_type = capability.mount().fs_type();
  if (!fs_type.empty() && fs_type != "ext4" && fs_type != "xfs") {
    return absl::InvalidArgumentError(
        fmt::format("{}.mount.fs_type {} is not supported (ext4 or xfs)", field, fs_type));
  }
  if (!capability.mount().volume_mount_group().empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{}.mount.volume_mount_group is not supported (the node plugin does not "
                    "offer VOLUME_MOUNT_GROUP)",
                    field));
  }
  return absl::OkStatus();
}

}  // namespace cloak::csi
