#include "controller/request_validation.h"

#include <charconv>

#include "csi/volume_capability.h"
#include "fmt/format.h"

namespace cloak::controller {
namespace {

namespace csi = ::csi::v1;

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", field, what));
}

}  // namespace

absl::Status ValidateName(const std::string& name) {
  if (name.empty()) return Invalid("name", "required (the CO's idempotency key for the volume)");
  if (name.size() > kMaxNameLength) {
    return Invalid(
        "name", fmt::format("{} characters; at most {} are allowed", name.size(), kMaxNameLength));
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
  return cloak::csi::CheckVolumeCapability(capability, field);
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
    return Invalid("capacity_range", fmt::format("limit_bytes {} is below required_bytes {}",
                                                 range.limit_bytes(), range.required_bytes()));
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
