#pragma once

// What both plugins accept of a VolumeCapability: a single-node access mode (a Cloak
// volume is opened on one node at a time) and an access type, block or mount with
// fs_type "", ext4 or xfs and no volume_mount_group. One check, so that the controller
// never creates a volume the node would refuse to stage.

#include <string_view>

#include "absl/status/status.h"
#include "csi/csi.pb.h"

namespace cloak::csi {

// OK, or INVALID_ARGUMENT whose message starts with `field` (e.g. "volume_capability" or
// "NodeStageVolume: volume_capability") and names the part and the fix.
absl::Status CheckVolumeCapability(const ::csi::v1::VolumeCapability& capability,
                                   std::string_view field);

}  // namespace cloak::csi
