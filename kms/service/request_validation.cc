#include "kms/service/request_validation.h"

#include "fmt/format.h"

namespace cloak::kms {
namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateServiceVolumeId(std::string_view id, std::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(fmt::format("{}: required", field));
  if (id.size() > kMaxServiceVolumeIdLength) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} characters; at most {} are allowed because the volume id becomes the "
                    "LUKS2 label (docs/volume-record.md)",
                    field, id.size(), kMaxServiceVolumeIdLength));
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (!IsIdChar(id[i])) {
      return absl::InvalidArgumentError(
          fmt::format("{}: character {} is not one of A-Z a-z 0-9 . _ -", field, i + 1));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFixedSize(std::span<const std::uint8_t> bytes, std::size_t size,
                               std::string_view field) {
  if (bytes.size() == size) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("{}: {} bytes; must be exactly {}", field, bytes.size(), size));
}

absl::Status ValidateBoundedSize(std::span<const std::uint8_t> bytes, std::size_t max,
                                 std::string_view field, std::string_view what) {
  if (!bytes.empty() && bytes.size() <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("{}: 1..{} bytes of {} required, got {}", field, max, what, bytes.size()));
}

absl::Status ValidateEvidence(std::span<const std::uint8_t> evidence) {
  if (evidence.empty()) return absl::InvalidArgumentError("evidence: required");
  if (evidence.size() > kMaxEvidenceBytes) {
    return absl::InvalidArgumentError(
        fmt::format("evidence: {} bytes; at most {}", evidence.size(), kMaxEvidenceBytes));
  }
  return absl::OkStatus();
}

}  // namespace cloak::kms
