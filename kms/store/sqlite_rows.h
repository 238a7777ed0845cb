#pragma once

// Conversions between SQLite rows and the store's types, for SqliteKeyStore.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kms/store/audit.h"
#include "kms/store/policy.h"
#include "kms/store/rotation.h"
#include "kms/store/sqlite_db.h"
#include "kms/store/volume.h"

// Column lists in the order the Read* functions expect them.
#define CLOAK_SQLITE_VOLUME_COLUMNS                                                            \
  "volume_id, wrapped_dek, state, key_id, key_version, kek_version, revision, created_at_us, " \
  "updated_at_us, source_volume_id, labels_json, record_json"
#define CLOAK_SQLITE_AUDIT_COLUMNS \
  "sequence, time_us, actor, action, volume_id, outcome, details_json, prev_hash, hash"
#define CLOAK_SQLITE_ROTATION_COLUMNS \
  "target_kek_version, done, total, state, started_at_us, updated_at_us, revision"
#define CLOAK_SQLITE_POLICY_COLUMNS "name, version, document, created_at_us"

namespace cloak::kms::sqlite {

// A string map as a JSON object with sorted keys.
std::string EncodeStringMap(const std::map<std::string, std::string>& map);
// INTERNAL naming `what` when the text is not a JSON object of strings.
absl::StatusOr<std::map<std::string, std::string>> DecodeStringMap(std::string_view json,
                                                                   std::string_view what);

// INTERNAL naming the row when a column holds something the schema does not allow.
absl::StatusOr<Volume> ReadVolume(const Statement& row);
absl::StatusOr<AuditEntry> ReadAuditEntry(const Statement& row);
absl::StatusOr<RotationProgress> ReadRotation(const Statement& row);
PolicyRecord ReadPolicy(const Statement& row);

}  // namespace cloak::kms::sqlite
