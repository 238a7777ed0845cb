#pragma once

// Pure input checks shared by the key service's handlers. Each returns INVALID_ARGUMENT
// naming the field, so table tests can cover them without a server.

#include <cstddef>
#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace cloak::kms {

// The wire limit of a volume id is 128 bytes (kMaxVolumeIdBytes), but the id becomes the
// LUKS2 label (docs/volume-record.md), which holds at most 47 characters: the stricter
// limit applies. Charset [A-Za-z0-9._-].
inline constexpr std::size_t kMaxServiceVolumeIdLength = 47;
inline constexpr std::size_t kMaxEvidenceBytes = 64 * 1024;

absl::Status ValidateServiceVolumeId(std::string_view id, std::string_view field);
// Exactly `size` bytes.
absl::Status ValidateFixedSize(std::span<const std::uint8_t> bytes, std::size_t size,
                               std::string_view field);
// 1..`max` bytes of `what` (named in the message, e.g. "a marshalled TPMT_PUBLIC").
absl::Status ValidateBoundedSize(std::span<const std::uint8_t> bytes, std::size_t max,
                                 std::string_view field, std::string_view what);
// 1..kMaxEvidenceBytes bytes.
absl::Status ValidateEvidence(std::span<const std::uint8_t> evidence);

}  // namespace cloak::kms
