#pragma once

// Pure checks of Controller requests (CSI v1.12.0). Each returns INVALID_ARGUMENT naming
// the field and the fix unless said otherwise; nothing here touches the backend or the
// key service, so the tables in tests/controller cover them whole.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "controller/volume_backend.h"
#include "csi/csi.pb.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_field.h"

namespace cloak::controller {

// StorageClass parameters Cloak reads. The three csi.storage.k8s.io keys are what the
// external-provisioner adds with --extra-create-metadata; they become key labels.
inline constexpr char kParamIntegrity[] = "integrity";
inline constexpr char kParamPvcName[] = "csi.storage.k8s.io/pvc/name";
inline constexpr char kParamPvcNamespace[] = "csi.storage.k8s.io/pvc/namespace";
inline constexpr char kParamPvName[] = "csi.storage.k8s.io/pv/name";
// The label that records the CO's volume name with the key.
inline constexpr char kLabelVolumeName[] = "cloak.csi.dev/volume-name";
// volume_context keys of created volumes (informational: the node reads the key
// service's record, never these).
inline constexpr char kContextIntegrity[] = "cloak.csi.dev/integrity";

// xfs refuses filesystems below 300 MB; ext4 and block volumes take any size.
inline constexpr std::int64_t kMinXfsBytes = 300 * 1000 * 1000;
inline constexpr std::size_t kMaxNameLength = 253;

using Parameters = google::protobuf::Map<std::string, std::string>;
using Capabilities = google::protobuf::RepeatedPtrField<::csi::v1::VolumeCapability>;

struct CreateParameters {
  std::string integrity = kIntegrityNone;
  Labels labels;  // the csi.storage.k8s.io keys present, and kLabelVolumeName
};

// `name`: required, at most kMaxNameLength printable ASCII characters.
absl::Status ValidateName(const std::string& name);

// `field` (e.g. "volume_id"): required.
absl::Status RequireField(const std::string& value, std::string_view field);

// One capability Cloak can serve: access type block or mount (fs_type "", ext4 or xfs;
// no volume_mount_group) and a single-node access mode. `field` names it in the message.
absl::Status ValidateCapability(const ::csi::v1::VolumeCapability& capability,
                                std::string_view field);

// volume_capabilities: required, each one valid.
absl::Status ValidateCapabilities(const Capabilities& capabilities);

// The smallest capacity these capabilities can be formatted with (kMinXfsBytes when any
// mounts xfs, else 0).
std::int64_t MinimumCapacity(const Capabilities& capabilities);

// parameters: integrity (none | hmac-sha256 | aead) and the three csi.storage.k8s.io
// keys; anything else is refused by name. `volume_name` goes into the labels.
absl::StatusOr<CreateParameters> ParseParameters(const Parameters& parameters,
                                                 const std::string& volume_name);

// capacity_range: both bounds non-negative, limit_bytes (when set) not below
// required_bytes. The pair (required, limit), 0 for unset.
absl::StatusOr<std::pair<std::int64_t, std::int64_t>> ValidateCapacityRange(
    const ::csi::v1::CapacityRange& range);

// ListVolumes' max_entries (not negative) and starting_token: "" is the start; anything
// else must be a token this controller issued (a decimal sequence number not above
// `last_sequence`), or ABORTED naming the token and the fix (start again).
absl::StatusOr<std::uint64_t> ParseListToken(const std::string& token, std::uint64_t last_sequence);
std::string ListToken(std::uint64_t sequence);

}  // namespace cloak::controller
