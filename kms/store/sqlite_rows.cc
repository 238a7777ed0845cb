#include "kms/store/sqlite_rows.h"

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/audit_chain.h"
#include "nlohmann/json.hpp"

namespace cloak::kms::sqlite {

std::string EncodeStringMap(const std::map<std::string, std::string>& map) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : map) object[key] = value;
  return object.dump();
}

absl::StatusOr<std::map<std::string, std::string>> DecodeStringMap(std::string_view json,
                                                                   std::string_view what) {
  nlohmann::json object = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return absl::InternalError(fmt::format("{} is not a JSON object", what));
  }
  std::map<std::string, std::string> map;
  for (const auto& [key, value] : object.items()) {
    if (!value.is_string()) {
      return absl::InternalError(fmt::format("{}: the value of '{}' is not a string", what, key));
    }
    map.emplace(key, value.get<std::string>());
  }
  return map;
}

absl::StatusOr<Volume> ReadVolume(const Statement& row) {
  Volume volume;
  volume.volume_id = row.Text(0);
  std::string what = fmt::format("volume '{}' in the key store", volume.volume_id);
  if (!row.IsNull(1)) {
    std::string wrapped = row.Blob(1);
    volume.wrapped_dek = WrappedKey(std::vector<std::uint8_t>(wrapped.begin(), wrapped.end()));
  }
  absl::StatusOr<VolumeState> state = ParseVolumeState(row.Text(2));
  if (!state.ok())
    return absl::InternalError(fmt::format("{}: {}", what, std::string(state.status().message())));
  volume.state = *state;
  volume.key_id = row.Text(3);
  volume.key_version = static_cast<std::uint32_t>(row.Int64(4));
  volume.kek_version = static_cast<std::uint32_t>(row.Int64(5));
  volume.revision = row.Int64(6);
  volume.created_at = absl::FromUnixMicros(row.Int64(7));
  volume.updated_at = absl::FromUnixMicros(row.Int64(8));
  if (!row.IsNull(9)) volume.source_volume_id = row.Text(9);
  ASSIGN_OR_RETURN(volume.labels, DecodeStringMap(row.Text(10), what + " labels"));
  volume.record_json = row.Text(11);
  return volume;
}

absl::StatusOr<AuditEntry> ReadAuditEntry(const Statement& row) {
  AuditEntry entry;
  entry.sequence = static_cast<std::uint64_t>(row.Int64(0));
  std::string what = fmt::format("audit entry {}", entry.sequence);
  entry.time = absl::FromUnixMicros(row.Int64(1));
  entry.event.actor = row.Text(2);
  entry.event.action = row.Text(3);
  entry.event.volume_id = row.Text(4);
  entry.event.outcome = row.Text(5);
  ASSIGN_OR_RETURN(entry.event.details, DecodeStringMap(row.Text(6), what + " details"));
  absl::StatusOr<AuditHash> prev_hash = AuditHashFromBytes(row.Blob(7));
  absl::StatusOr<AuditHash> hash = AuditHashFromBytes(row.Blob(8));
  if (!prev_hash.ok() || !hash.ok()) {
    return absl::InternalError(fmt::format("{} has a hash of the wrong length", what));
  }
  entry.prev_hash = *prev_hash;
  entry.hash = *hash;
  return entry;
}

absl::StatusOr<RotationProgress> ReadRotation(const Statement& row) {
  RotationProgress progress;
  progress.target_kek_version = static_cast<std::uint32_t>(row.Int64(0));
  progress.done = row.Int64(1);
  progress.total = row.Int64(2);
  absl::StatusOr<RotationState> state = ParseRotationState(row.Text(3));
  if (!state.ok()) {
    return absl::InternalError(
        fmt::format("KEK rotation record: {}", std::string(state.status().message())));
  }
  progress.state = *state;
  progress.started_at = absl::FromUnixMicros(row.Int64(4));
  progress.updated_at = absl::FromUnixMicros(row.Int64(5));
  progress.revision = row.Int64(6);
  return progress;
}

PolicyRecord ReadPolicy(const Statement& row) {
  return PolicyRecord{row.Text(0), row.Int64(1), row.Text(2), absl::FromUnixMicros(row.Int64(3))};
}

}  // namespace cloak::kms::sqlite
