// SqliteKeyStore: KEK rotation, policies and the audit log.

#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/audit_chain.h"
#include "kms/store/sqlite_key_store.h"
#include "kms/store/sqlite_rows.h"
#include "kms/store/validation.h"

namespace cloak::kms {
namespace {

using sqlite::Statement;

constexpr int kVerifyBatch = 1000;

}  // namespace

absl::StatusOr<std::vector<Volume>> SqliteKeyStore::ListByKekVersion(
    std::uint32_t kek_version, std::string_view after_volume_id, int limit) {
  if (limit <= 0 || limit > kMaxPageSize) {
    return absl::InvalidArgumentError(fmt::format("limit must be 1 to {}", kMaxPageSize));
  }
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT " CLOAK_SQLITE_VOLUME_COLUMNS
                                " FROM volumes WHERE kek_version = ?1 AND wrapped_dek IS NOT NULL"
                                " AND volume_id > ?2 ORDER BY volume_id LIMIT ?3"));
  query.BindInt64(1, kek_version);
  query.BindText(2, after_volume_id);
  query.BindInt64(3, limit);
  std::vector<Volume> volumes;
  while (true) {
    ASSIGN_OR_RETURN(bool row, query.Step("listing volumes by KEK version"));
    if (!row) break;
    ASSIGN_OR_RETURN(Volume volume, sqlite::ReadVolume(query));
    volumes.push_back(std::move(volume));
  }
  return volumes;
}

absl::StatusOr<std::map<std::uint32_t, std::int64_t>> SqliteKeyStore::CountByKekVersion() {
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT kek_version, COUNT(*) FROM volumes"
                                " WHERE wrapped_dek IS NOT NULL GROUP BY kek_version"));
  std::map<std::uint32_t, std::int64_t> counts;
  while (true) {
    ASSIGN_OR_RETURN(bool row, query.Step("counting volumes by KEK version"));
    if (!row) break;
    counts[static_cast<std::uint32_t>(query.Int64(0))] = query.Int64(1);
  }
  return counts;
}

absl::StatusOr<Volume> SqliteKeyStore::RewrapVolume(std::string_view volume_id,
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
  return Mutate([&]() -> absl::StatusOr<Volume> {
    ASSIGN_OR_RETURN(std::optional<Volume> row, FindLocked(volume_id));
    if (!row)
      return absl::NotFoundError(fmt::format("volume '{}' is not in the key store", volume_id));
    if (row->destroyed()) {
      return absl::NotFoundError(
          fmt::format("volume '{}' was destroyed; there is no key to rewrap", volume_id));
    }
    if (row->revision != expected_revision) {
      return absl::AbortedError(
          fmt::format("volume '{}' changed (revision {}, expected {}); read it again", volume_id,
                      row->revision, expected_revision));
    }
    absl::Time now = Now();
    row->wrapped_dek = new_wrapped;
    row->kek_version = new_kek_version;
    row->updated_at = now;
    ++row->revision;
    RETURN_IF_ERROR(UpdateVolumeLocked(*row));
    ASSIGN_OR_RETURN(Statement progress,
                     db_->Prepare("UPDATE kek_rotation SET done = done + 1, updated_at_us = ?1,"
                                  " revision = revision + 1 WHERE id = 1 AND state = 'running'"
                                  " AND target_kek_version = ?2"));
    progress.BindInt64(1, absl::ToUnixMicros(now));
    progress.BindInt64(2, new_kek_version);
    RETURN_IF_ERROR(progress.Run("counting a rewrapped volume in the KEK rotation record"));
    RETURN_IF_ERROR(AppendLocked(std::move(bound), now).status());
    return *std::move(row);
  });
}

absl::StatusOr<std::optional<RotationProgress>> SqliteKeyStore::RotationLocked() {
  ASSIGN_OR_RETURN(Statement query, db_->Prepare("SELECT " CLOAK_SQLITE_ROTATION_COLUMNS
                                                 " FROM kek_rotation WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, query.Step("reading the KEK rotation record"));
  if (!row) return std::nullopt;
  return sqlite::ReadRotation(query);
}

absl::StatusOr<RotationProgress> SqliteKeyStore::GetRotationProgress() {
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(std::optional<RotationProgress> progress, RotationLocked());
  if (!progress) return absl::NotFoundError("no KEK rotation was ever started");
  return *std::move(progress);
}

absl::StatusOr<RotationProgress> SqliteKeyStore::PutRotationProgress(
    const RotationProgress& progress, std::int64_t expected_revision, const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateRotationProgress(progress));
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  return Mutate([&]() -> absl::StatusOr<RotationProgress> {
    ASSIGN_OR_RETURN(std::optional<RotationProgress> current, RotationLocked());
    std::int64_t current_revision = current ? current->revision : 0;
    if (current_revision != expected_revision) {
      return absl::AbortedError(
          fmt::format("the KEK rotation record changed (revision {}, expected {}); read it again",
                      current_revision, expected_revision));
    }
    absl::Time now = Now();
    RotationProgress next = progress;
    next.started_at = current && current->target_kek_version == progress.target_kek_version
                          ? current->started_at
                          : now;
    next.updated_at = now;
    next.revision = current_revision + 1;
    ASSIGN_OR_RETURN(Statement write,
                     db_->Prepare("INSERT INTO kek_rotation (id, " CLOAK_SQLITE_ROTATION_COLUMNS
                                  ") VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO "
                                  "UPDATE SET target_kek_version = ?1, done = ?2, total = ?3, "
                                  "state = ?4, started_at_us = ?5, updated_at_us = ?6, "
                                  "revision = ?7"));
    write.BindInt64(1, next.target_kek_version);
    write.BindInt64(2, next.done);
    write.BindInt64(3, next.total);
    write.BindText(4, RotationStateName(next.state));
    write.BindInt64(5, absl::ToUnixMicros(next.started_at));
    write.BindInt64(6, absl::ToUnixMicros(next.updated_at));
    write.BindInt64(7, next.revision);
    RETURN_IF_ERROR(write.Run("writing the KEK rotation record"));
    RETURN_IF_ERROR(AppendLocked(event, now).status());
    return next;
  });
}

absl::StatusOr<PolicyRecord> SqliteKeyStore::PutPolicy(std::string_view name,
                                                       std::string_view document,
                                                       std::int64_t expected_version,
                                                       const AuditEvent& event) {
  RETURN_IF_ERROR(ValidatePolicy(name, document));
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  return Mutate([&]() -> absl::StatusOr<PolicyRecord> {
    std::int64_t latest = 0;
    {
      ASSIGN_OR_RETURN(Statement query,
                       db_->Prepare("SELECT COALESCE(MAX(version), 0) FROM policies"
                                    " WHERE name = ?1"));
      query.BindText(1, name);
      ASSIGN_OR_RETURN(bool row, query.Step(fmt::format("reading policy '{}'", name)));
      if (row) latest = query.Int64(0);
    }
    if (latest != expected_version) {
      return absl::AbortedError(fmt::format("policy '{}' is at version {}, not {}; read it again",
                                            name, latest, expected_version));
    }
    PolicyRecord record{std::string(name), latest + 1, std::string(document), Now()};
    ASSIGN_OR_RETURN(Statement insert,
                     db_->Prepare("INSERT INTO policies (" CLOAK_SQLITE_POLICY_COLUMNS
                                  ") VALUES (?1, ?2, ?3, ?4)"));
    insert.BindText(1, record.name);
    insert.BindInt64(2, record.version);
    insert.BindText(3, record.document);
    insert.BindInt64(4, absl::ToUnixMicros(record.created_at));
    RETURN_IF_ERROR(insert.Run(fmt::format("storing policy '{}'", name)));
    RETURN_IF_ERROR(AppendLocked(event, record.created_at).status());
    return record;
  });
}

absl::StatusOr<PolicyRecord> SqliteKeyStore::GetPolicy(std::string_view name,
                                                       std::int64_t version) {
  if (version < 0) return absl::InvalidArgumentError("policy version: must not be negative");
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT " CLOAK_SQLITE_POLICY_COLUMNS " FROM policies"
                                " WHERE name = ?1 AND (?2 = 0 OR version = ?2)"
                                " ORDER BY version DESC LIMIT 1"));
  query.BindText(1, name);
  query.BindInt64(2, version);
  ASSIGN_OR_RETURN(bool row, query.Step(fmt::format("reading policy '{}'", name)));
  if (!row) {
    return absl::NotFoundError(version == 0
                                   ? fmt::format("policy '{}' is not in the key store", name)
                                   : fmt::format("policy '{}' has no version {}", name, version));
  }
  return sqlite::ReadPolicy(query);
}

absl::StatusOr<AuditEntry> SqliteKeyStore::AppendLocked(AuditEvent event, absl::Time now) {
  AuditHead head;
  {
    ASSIGN_OR_RETURN(Statement last, db_->Prepare("SELECT sequence, hash FROM audit_log"
                                                  " ORDER BY sequence DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool row, last.Step("reading the audit log's last entry"));
    if (row) {
      head.sequence = static_cast<std::uint64_t>(last.Int64(0));
      absl::StatusOr<AuditHash> hash = AuditHashFromBytes(last.Blob(1));
      if (!hash.ok()) {
        return absl::DataLossError(fmt::format(
            "audit log broken at sequence {}: its hash has the wrong length; refusing to "
            "extend it",
            head.sequence));
      }
      head.hash = *hash;
    }
  }
  AuditEntry entry = NextAuditEntry(head, now, std::move(event));
  ASSIGN_OR_RETURN(Statement insert,
                   db_->Prepare("INSERT INTO audit_log (" CLOAK_SQLITE_AUDIT_COLUMNS
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  insert.BindInt64(1, static_cast<std::int64_t>(entry.sequence));
  insert.BindInt64(2, absl::ToUnixMicros(entry.time));
  insert.BindText(3, entry.event.actor);
  insert.BindText(4, entry.event.action);
  insert.BindText(5, entry.event.volume_id);
  insert.BindText(6, entry.event.outcome);
  insert.BindText(7, sqlite::EncodeStringMap(entry.event.details));
  insert.BindBlob(8, entry.prev_hash);
  insert.BindBlob(9, entry.hash);
  RETURN_IF_ERROR(insert.Run(fmt::format("appending audit entry {}", entry.sequence)));
  return entry;
}

absl::StatusOr<AuditEntry> SqliteKeyStore::AppendAudit(const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  return audit_batcher_.Append(event);
}

absl::StatusOr<std::vector<AuditEntry>> SqliteKeyStore::ListAudit(std::uint64_t from_sequence,
                                                                  int limit) {
  ASSIGN_OR_RETURN(int page_size, NormalizePageSize(limit, "limit"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT " CLOAK_SQLITE_AUDIT_COLUMNS " FROM audit_log"
                                " WHERE sequence >= ?1 ORDER BY sequence LIMIT ?2"));
  query.BindInt64(1, static_cast<std::int64_t>(from_sequence));
  query.BindInt64(2, page_size);
  std::vector<AuditEntry> entries;
  while (true) {
    ASSIGN_OR_RETURN(bool row, query.Step("listing the audit log"));
    if (!row) break;
    ASSIGN_OR_RETURN(AuditEntry entry, sqlite::ReadAuditEntry(query));
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<AuditHead> SqliteKeyStore::VerifyAuditChain() {
  AuditChainVerifier verifier;
  // In batches, releasing the mutex between them: the log only grows, so the entries
  // already checked cannot change underneath (short of tampering, which the next
  // verification catches).
  std::int64_t after = 0;
  while (true) {
    std::lock_guard lock(mutex_);
    ASSIGN_OR_RETURN(Statement query,
                     db_->Prepare("SELECT " CLOAK_SQLITE_AUDIT_COLUMNS " FROM audit_log"
                                  " WHERE sequence > ?1 ORDER BY sequence LIMIT ?2"));
    query.BindInt64(1, after);
    query.BindInt64(2, kVerifyBatch);
    int rows = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool row, query.Step("verifying the audit log"));
      if (!row) break;
      ++rows;
      after = query.Int64(0);
      absl::StatusOr<AuditEntry> entry = sqlite::ReadAuditEntry(query);
      if (!entry.ok()) {
        return absl::DataLossError(fmt::format("audit log broken at sequence {}: {}", after,
                                               std::string(entry.status().message())));
      }
      RETURN_IF_ERROR(verifier.Add(*entry));
    }
    if (rows < kVerifyBatch) break;
  }
  return verifier.head();
}

}  // namespace cloak::kms
