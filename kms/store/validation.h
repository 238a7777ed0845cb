#pragma once

// Input checks and page tokens shared by every KeyStore implementation, so that they
// accept and refuse exactly the same things. Each check returns INVALID_ARGUMENT naming
// the offending field.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kms/store/audit.h"
#include "kms/store/rotation.h"
#include "kms/store/volume.h"

namespace cloak::kms {

inline constexpr std::size_t kMaxVolumeIdBytes = 128;
inline constexpr std::size_t kMaxRecordJsonBytes = 64 * 1024;
inline constexpr std::size_t kMaxWrappedKeyBytes = 4096;
inline constexpr std::size_t kMaxLabels = 64;
inline constexpr std::size_t kMaxAuditDetails = 64;
inline constexpr std::size_t kMaxPolicyBytes = 1024 * 1024;

// Non-empty, at most kMaxVolumeIdBytes, no control characters.
absl::Status ValidateVolumeId(std::string_view id, std::string_view field);
// A JSON object of at most kMaxRecordJsonBytes.
absl::Status ValidateRecordJson(std::string_view json, std::string_view field);
absl::Status ValidateWrappedKey(const WrappedKey& key, std::string_view field);
absl::Status ValidateLabels(const Labels& labels);
absl::Status ValidateNewVolume(const NewVolume& volume);
absl::Status ValidateCloneRequest(const CloneRequest& clone);
absl::Status ValidatePolicy(std::string_view name, std::string_view document);
absl::Status ValidateRotationProgress(const RotationProgress& progress);

// Actor, action and outcome present; details bounded, UTF-8, and not named like key
// material ("dek", "wrapped_key", "evidence", ...).
absl::Status ValidateAuditEvent(const AuditEvent& event);

// The event a mutation of `volume_id` appends: `event` validated, with its volume id
// filled in when empty. INVALID_ARGUMENT when it names another volume.
absl::StatusOr<AuditEvent> BindAuditEvent(const AuditEvent& event, std::string_view volume_id);

// 0 → kDefaultPageSize, above kMaxPageSize → kMaxPageSize, negative → INVALID_ARGUMENT.
absl::StatusOr<int> NormalizePageSize(int page_size, std::string_view field);

// The token for the page after the one ending at `last_volume_id`, and back.
std::string EncodePageToken(std::string_view last_volume_id);
// The last volume id of the previous page ("" for an empty token).
absl::StatusOr<std::string> DecodePageToken(std::string_view token);

}  // namespace cloak::kms
