#include "controller/request_validation.h"

#include <charconv>

#include "fmt/format.h"

namespace cloak::controller {
namespace {

namespace csi = ::csi::v1;
using AccessMode = csi::VolumeCapability::AccessMode;

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", field, what));
}

}  // namespace

absl::Status ValidateName(const std::string& name) {
  if (name.empty()) return Invalid("name", "required (the CO's idempotency key for the volume)");
  if (name.size() > kMaxNameLength) {
    return Invalid("name", fmt::format("{} characters; at most {} are allowed", name.size(),
                                       kMaxNameLength));
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x21 || c > 0x7e) {
      return Invalid("name", fmt::format("character {} is not printable ASCII", i + 1));
    }
  }
  return absl::OkStatus();
}

absl::Status RequireField(const std::string& value, std::string_view field) {
  return value.empty() ? Invalid(field, "required") : absl::OkStatus();
}

absl::Status ValidateCapability(const csi::VolumeCapability& capability, std::string_view field) {
  switch (capability.access_mode().mode()) {
    case AccessMode::SINGLE_NODE_WRITER:
    case AccessMode::SINGLE_NODE_READER_ONLY:
    case AccessMode::SINGLE_NODE_SINGLE_WRITER:
    case AccessMode::SINGLE_NODE_MULTI_WRITER:
      break;
    default:
      return Invalid(field,
                     fmt::format("access_mode {} is not supported: a Cloak volume is opened on "
                                 "one node at a time (use SINGLE_NODE_WRITER, "
                                 "SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER or "
                                 "SINGLE_NODE_MULTI_WRITER)",
                                 AccessMode::Mode_Name(capability.access_mode().mode())));
  }
  if (capability.has_block()) return absl::OkStatus();
  if (!capability.has_mount()) return Invalid(field, "needs an access type, block or mount");
  const std::string& fs_type = capability.mount().fs_type();
  if (!fs_type.empty() && fs_type != "ext4" && fs_type != "xfs") {
    return Invalid(field, fmt::format("mount.fs_type {} is not supported (ext4 or xfs)", fs_type));
  }
  if (!capability.mount().volume_mount_group().empty()) {
    return Invalid(field,
                   "mount.volume_mount_group is not supported (the node plugin does not offer "
                   "VOLUME_MOUNT_GROUP)");
  }
  return absl::OkStatus();
}

absl::Status ValidateCapabilities(const Capabilities& capabilities) {
  if (capabilities.empty()) return Invalid("volume_capabilities", "at least one is required");
  for (int i = 0; i < capabilities.size(); ++i) {
    if (absl::Status status =
            ValidateCapability(capabilities[i], fmt::format("volume_capabilities[{}]", i));
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

std::int64_t MinimumCapacity(const Capabilities& capabilities) {
  for (const csi::VolumeCapability& capability : capabilities) {
    if (capability.has_mount() && capability.mount().fs_type() == "xfs") return kMinXfsBytes;
  }
  return 0;
}

absl::StatusOr<CreateParameters> ParseParameters(const Parameters& parameters,
                                                 const std::string& volume_name) {
  CreateParameters result;
  result.labels[kLabelVolumeName] = volume_name;
  for (const auto& [key, value] : parameters) {
    const std::string field = fmt::format("parameters[\"{}\"]", key);
    if (key == kParamIntegrity) {
      if (value != kIntegrityNone && value != kIntegrityHmacSha256 && value != kIntegrityAead) {
        return Invalid(field, fmt::format("\"{}\" is not none, hmac-sha256 or aead", value));
      }
      result.integrity = value;
    } else if (key == kParamPvcName || key == kParamPvcNamespace || key == kParamPvName) {
      if (value.empty() || value.size() > 253) return Invalid(field, "must be 1..253 characters");
      result.labels[key] = value;
    } else {
      return Invalid(field,
                     fmt::format("unknown StorageClass parameter; Cloak reads {}, {}, {} and {} "
                                 "(remove the others from the StorageClass)",
                                 kParamIntegrity, kParamPvcName, kParamPvcNamespace, kParamPvName));
    }
  }
  return result;
}

absl::StatusOr<std::pair<std::int64_t, std::int64_t>> ValidateCapacityRange(
    const csi::CapacityRange& range) {
  if (range.required_bytes() < 0) return Invalid("capacity_range.required_bytes", "is negative");
  if (range.limit_bytes() < 0) return Invalid("capacity_range.limit_bytes", "is negative");
  if (range.limit_bytes() > 0 && range.limit_bytes() < range.required_bytes()) {
    return Invalid("capacity_range",
                   fmt::format("limit_bytes {} is below required_bytes {}", range.limit_bytes(),
                               range.required_bytes()));
  }
  return std::pair(range.required_bytes(), range.limit_bytes());
}

absl::StatusOr<std::uint64_t> ParseListToken(const std::string& token,
                                             std::uint64_t last_sequence) {
  if (token.empty()) return 0;
  std::uint64_t sequence = 0;
  const char* end = token.data() + token.size();
  const auto [rest, error] = std::from_chars(token.data(), end, sequence);
  if (error != std::errc() || rest != end || sequence == 0 || sequence > last_sequence ||
      token.front() == '0') {
    return absl::AbortedError(fmt::format(
        "starting_token \"{}\" was not issued by this controller; list again from the start "
        "(an empty starting_token)",
        token));
  }
  return sequence;
}

std::string ListToken(std::uint64_t sequence) { return std::to_string(sequence); }

}  // namespace cloak::controller
