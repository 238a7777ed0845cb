#include "kms/store/testing/fake_key_store.h"

#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/audit_chain.h"
#include "kms/store/validation.h"

namespace cloak::kms {
namespace {

absl::Status UnknownVolume(std::string_view volume_id) {
  return absl::NotFoundError(fmt::format("volume '{}' is not in the key store", volume_id));
}

}  // namespace

void FakeKeyStore::SetUnavailable(absl::Status status) {
  std::lock_guard lock(mutex_);
  unavailable_ = std::move(status);
}

absl::Time FakeKeyStore::NowLocked() const {
  return absl::FromUnixMicros(absl::ToUnixMicros(clock_.Now()));
}

AuditEntry FakeKeyStore::AppendLocked(AuditEvent event) {
  AuditHead head;
  if (!audit_.empty()) head = AuditHead{audit_.back().sequence, audit_.back().hash};
  audit_.push_back(NextAuditEntry(head, NowLocked(), std::move(event)));
  return audit_.back();
}

absl::StatusOr<Volume*> FakeKeyStore::FindLocked(std::string_view volume_id) {
  auto it = volumes_.find(volume_id);
  if (it == volumes_.end()) return UnknownVolume(volume_id);
  return &it->second;
}

absl::Status FakeKeyStore::CreateVolume(const NewVolume& volume, const AuditEvent& event,
                                        Volume* stored) {
  RETURN_IF_ERROR(ValidateNewVolume(volume));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume.volume_id));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  if (auto it = volumes_.find(volume.volume_id); it != volumes_.end()) {
    *stored = it->second;
    return absl::AlreadyExistsError(fmt::format("volume '{}' already exists (state {})",
                                                volume.volume_id,
                                                VolumeStateName(it->second.state)));
  }
  Volume row;
  row.volume_id = volume.volume_id;
  row.record_json = volume.record_json;
  row.state = VolumeState::kCreated;
  row.key_id = volume.volume_id;
  row.key_version = volume.key_version;
  row.kek_version = volume.kek_version;
  row.wrapped_dek = volume.wrapped_dek;
  row.labels = volume.labels;
  row.created_at = row.updated_at = NowLocked();
  row.revision = 1;
  volumes_.emplace(row.volume_id, row);
  AppendLocked(std::move(bound));
  *stored = std::move(row);
  return absl::OkStatus();
}

absl::StatusOr<Volume> FakeKeyStore::GetVolume(std::string_view volume_id) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  ASSIGN_OR_RETURN(Volume * row, FindLocked(volume_id));
  return *row;
}

absl::StatusOr<Volume> FakeKeyStore::GetVolumeKey(std::string_view volume_id) {
  ASSIGN_OR_RETURN(Volume row, GetVolume(volume_id));
  if (row.destroyed()) {
    return absl::NotFoundError(
        fmt::format("volume '{}' was destroyed; its key no longer exists", volume_id));
  }
  return row;
}

absl::StatusOr<Volume> FakeKeyStore::CompareAndSetState(std::string_view volume_id,
                                                        VolumeState expected, VolumeState next,
                                                        const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  if (expected != VolumeState::kCreated || next != VolumeState::kFormatted) {
    return absl::InvalidArgumentError(
        fmt::format("volume state cannot go from {} to {}; only created to formatted",
                    VolumeStateName(expected), VolumeStateName(next)));
  }
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  ASSIGN_OR_RETURN(Volume * row, FindLocked(volume_id));
  if (row->state != expected) {
    return absl::FailedPreconditionError(fmt::format("volume '{}' is {}, not {}", volume_id,
                                                     VolumeStateName(row->state),
                                                     VolumeStateName(expected)));
  }
  row->state = next;
  row->updated_at = NowLocked();
  ++row->revision;
  AppendLocked(std::move(bound));
  return *row;
}

absl::StatusOr<Volume> FakeKeyStore::DestroyVolume(std::string_view volume_id,
                                                   const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  ASSIGN_OR_RETURN(Volume * row, FindLocked(volume_id));
  if (!row->destroyed()) {
    row->state = VolumeState::kDestroyed;
    row->wrapped_dek = WrappedKey();
    row->updated_at = NowLocked();
    ++row->revision;
  }
  AppendLocked(std::move(bound));
  return *row;
}

absl::Status FakeKeyStore::CloneVolume(const CloneRequest& clone, const AuditEvent& event,
                                       Volume* stored) {
  RETURN_IF_ERROR(ValidateCloneRequest(clone));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, clone.volume_id));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  if (auto it = volumes_.find(clone.volume_id); it != volumes_.end()) {
    *stored = it->second;
    return absl::AlreadyExistsError(fmt::format("volume '{}' already exists (state {})",
                                                clone.volume_id,
                                                VolumeStateName(it->second.state)));
  }
  ASSIGN_OR_RETURN(Volume * source, FindLocked(clone.source_volume_id));
  if (source->destroyed()) {
    return absl::FailedPreconditionError(
        fmt::format("cannot clone volume '{}': it was destroyed", clone.source_volume_id));
  }
  Volume row = *source;
  row.volume_id = clone.volume_id;
  if (!clone.record_json.empty()) row.record_json = clone.record_json;
  row.labels = clone.labels;
  row.source_volume_id = clone.source_volume_id;
  row.created_at = row.updated_at = NowLocked();
  row.revision = 1;
  volumes_.emplace(row.volume_id, row);
  AppendLocked(std::move(bound));
  *stored = std::move(row);
  return absl::OkStatus();
}

absl::StatusOr<VolumePage> FakeKeyStore::ListVolumes(const ListVolumesRequest& request) {
  ASSIGN_OR_RETURN(int page_size, NormalizePageSize(request.page_size, "page_size"));
  ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  VolumePage page;
  auto it = after.empty() ? volumes_.begin() : volumes_.upper_bound(after);
  for (; it != volumes_.end() && static_cast<int>(page.volumes.size()) < page_size; ++it) {
    page.volumes.push_back(it->second);
  }
  if (it != volumes_.end()) page.next_page_token = EncodePageToken(page.volumes.back().volume_id);
  return page;
}

absl::StatusOr<std::vector<Volume>> FakeKeyStore::ListByKekVersion(std::uint32_t kek_version,
                                                                   std::string_view after_volume_id,
                                                                   int limit) {
  if (limit <= 0 || limit > kMaxPageSize) {
    return absl::InvalidArgumentError(fmt::format("limit must be 1 to {}", kMaxPageSize));
  }
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  std::vector<Volume> result;
  auto it = after_volume_id.empty() ? volumes_.begin() : volumes_.upper_bound(after_volume_id);
  for (; it != volumes_.end() && static_cast<int>(result.size()) < limit; ++it) {
    if (!it->second.destroyed() && it->second.kek_version == kek_version) {
      result.push_back(it->second);
    }
  }
  return result;
}

absl::StatusOr<std::map<std::uint32_t, std::int64_t>> FakeKeyStore::CountByKekVersion() {
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  std::map<std::uint32_t, std::int64_t> counts;
  for (const auto& [id, row] : volumes_) {
    if (!row.destroyed()) ++counts[row.kek_version];
  }
  return counts;
}

absl::StatusOr<Volume> FakeKeyStore::RewrapVolume(std::string_view volume_id,
                                                  std::int64_t expected_revision,
                                                  const WrappedKey& new_wrapped,
                                                  std::uint32_t new_kek_version,
                                                  const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  RETURN_IF_ERROR(ValidateWrappedKey(new_wrapped, "new_wrapped"));
  if (new_kek_version == 0) {
    return absl::InvalidArgumentError("new_kek_version: must be at least 1");
  }
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  ASSIGN_OR_RETURN(Volume * row, FindLocked(volume_id));
  if (row->destroyed()) {
    return absl::NotFoundError(
        fmt::format("volume '{}' was destroyed; there is no key to rewrap", volume_id));
  }
  if (row->revision != expected_revision) {
    return absl::AbortedError(
        fmt::format("volume '{}' changed (revision {}, expected {}); read it again", volume_id,
                    row->revision, expected_revision));
  }
  absl::Time now = NowLocked();
  row->wrapped_dek = new_wrapped;
  row->kek_version = new_kek_version;
  row->updated_at = now;
  ++row->revision;
  if (rotation_ && rotation_->state == RotationState::kRunning &&
      rotation_->target_kek_version == new_kek_version) {
    ++rotation_->done;
    rotation_->updated_at = now;
    ++rotation_->revision;
  }
  AppendLocked(std::move(bound));
  return *row;
}

absl::StatusOr<RotationProgress> FakeKeyStore::GetRotationProgress() {
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  if (!rotation_) return absl::NotFoundError("no KEK rotation was ever started");
  return *rotation_;
}

absl::StatusOr<RotationProgress> FakeKeyStore::PutRotationProgress(const RotationProgress& progress,
                                                                   std::int64_t expected_revision,
                                                                   const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateRotationProgress(progress));
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  std::int64_t current = rotation_ ? rotation_->revision : 0;
  if (current != expected_revision) {
    return absl::AbortedError(
        fmt::format("the KEK rotation record changed (revision {}, expected {}); read it again",
                    current, expected_revision));
  }
  absl::Time now = NowLocked();
  RotationProgress next = progress;
  next.started_at = rotation_ && rotation_->target_kek_version == progress.target_kek_version
                        ? rotation_->started_at
                        : now;
  next.updated_at = now;
  next.revision = current + 1;
  rotation_ = next;
  AppendLocked(event);
  return next;
}

absl::StatusOr<PolicyRecord> FakeKeyStore::PutPolicy(std::string_view name,
                                                     std::string_view document,
                                                     std::int64_t expected_version,
                                                     const AuditEvent& event) {
  RETURN_IF_ERROR(ValidatePolicy(name, document));
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  std::vector<PolicyRecord>& versions = policies_[std::string(name)];
  auto latest = static_cast<std::int64_t>(versions.size());
  if (latest != expected_version) {
    return absl::AbortedError(fmt::format("policy '{}' is at version {}, not {}; read it again",
                                          name, latest, expected_version));
  }
  versions.push_back(
      PolicyRecord{std::string(name), latest + 1, std::string(document), NowLocked()});
  AppendLocked(event);
  return versions.back();
}

absl::StatusOr<PolicyRecord> FakeKeyStore::GetPolicy(std::string_view name, std::int64_t version) {
  if (version < 0) return absl::InvalidArgumentError("policy version: must not be negative");
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  auto it = policies_.find(name);
  if (it == policies_.end() || it->second.empty()) {
    return absl::NotFoundError(fmt::format("policy '{}' is not in the key store", name));
  }
  if (version == 0) return it->second.back();
  if (version > static_cast<std::int64_t>(it->second.size())) {
    return absl::NotFoundError(fmt::format("policy '{}' has no version {}", name, version));
  }
  return it->second[static_cast<std::size_t>(version - 1)];
}

absl::StatusOr<AuditEntry> FakeKeyStore::AppendAudit(const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  return AppendLocked(event);
}

absl::StatusOr<std::vector<AuditEntry>> FakeKeyStore::ListAudit(std::uint64_t from_sequence,
                                                                int limit) {
  ASSIGN_OR_RETURN(int page_size, NormalizePageSize(limit, "limit"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  std::vector<AuditEntry> result;
  for (const AuditEntry& entry : audit_) {
    if (static_cast<int>(result.size()) >= page_size) break;
    if (entry.sequence >= from_sequence) result.push_back(entry);
  }
  return result;
}

absl::StatusOr<AuditHead> FakeKeyStore::VerifyAuditChain() {
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(unavailable_);
  AuditChainVerifier verifier;
  for (const AuditEntry& entry : audit_) RETURN_IF_ERROR(verifier.Add(entry));
  return verifier.head();
}

}  // namespace cloak::kms
