#include "kms/store/sqlite_key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/sqlite_rows.h"
#include "kms/store/sqlite_schema.h"
#include "kms/store/validation.h"

namespace cloak::kms {
namespace {

using sqlite::Statement;

absl::Status CheckPrivateFile(const std::string& path, const struct stat& info) {
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("key store {} is not a regular file; point the key service at its database "
                    "file itself, not a link",
                    path));
  }
  if (info.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        fmt::format("key store {} is owned by uid {}, not by the key service's uid {}; chown it",
                    path, info.st_uid, geteuid()));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "key store {} has mode {:04o}: group or others may access it; run chmod 600 {} and "
        "check who may have copied it",
        path, info.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

// Creates the file with mode 0600 when it is missing; otherwise checks that it (and
// the WAL files beside it) are private to us.
absl::Status PrepareStoreFile(const std::string& path) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) return ErrnoToStatus(errno, fmt::format("checking key store {}", path));
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return ErrnoToStatus(errno, fmt::format("creating key store {}", path));
    close(fd);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckPrivateFile(path, info));
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string side = path + suffix;
    if (lstat(side.c_str(), &info) == 0) RETURN_IF_ERROR(CheckPrivateFile(side, info));
  }
  return absl::OkStatus();
}

void BindVolume(Statement& statement, const Volume& row) {
  statement.BindText(1, row.volume_id);
  if (row.wrapped_dek.empty()) {
    statement.BindNull(2);
  } else {
    statement.BindBlob(2, row.wrapped_dek.ciphertext());
  }
  statement.BindText(3, VolumeStateName(row.state));
  statement.BindText(4, row.key_id);
  statement.BindInt64(5, row.key_version);
  statement.BindInt64(6, row.kek_version);
  statement.BindInt64(7, row.revision);
  statement.BindInt64(8, absl::ToUnixMicros(row.created_at));
  statement.BindInt64(9, absl::ToUnixMicros(row.updated_at));
  if (row.source_volume_id.empty()) {
    statement.BindNull(10);
  } else {
    statement.BindText(10, row.source_volume_id);
  }
  statement.BindText(11, sqlite::EncodeStringMap(row.labels));
  statement.BindText(12, row.record_json);
}

absl::Status AlreadyExists(const Volume& existing) {
  return absl::AlreadyExistsError(fmt::format("volume '{}' already exists (state {})",
                                              existing.volume_id, VolumeStateName(existing.state)));
}

absl::Status UnknownVolume(std::string_view volume_id) {
  return absl::NotFoundError(fmt::format("volume '{}' is not in the key store", volume_id));
}

// Audit events committed in one transaction at most (concurrent key releases).
constexpr std::size_t kMaxAuditBatch = 512;

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteKeyStore>> SqliteKeyStore::Open(
    const std::string& path, const Clock& clock, SqliteKeyStoreOptions options) {
  RETURN_IF_ERROR(PrepareStoreFile(path));
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db,
                   sqlite::Database::Open(path, options.busy_timeout));
  // journal_mode answers with a row, so it goes through a statement; the rest return
  // nothing. Reading the mode is also the first read of the file's header.
  {
    ASSIGN_OR_RETURN(Statement mode, db->Prepare("PRAGMA journal_mode=WAL"));
    ASSIGN_OR_RETURN(bool row, mode.Step(fmt::format("switching key store {} to WAL", path)));
    if (!row || mode.Text(0) != "wal") {
      return absl::FailedPreconditionError(
          fmt::format("key store {} cannot use WAL mode (it answered '{}'); keep it on a local "
                      "file system",
                      path, row ? mode.Text(0) : ""));
    }
  }
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL", "setting synchronous=FULL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON", "enabling foreign keys"));
  RETURN_IF_ERROR(db->Exec("PRAGMA secure_delete=ON", "enabling secure_delete"));
  RETURN_IF_ERROR(db->Exec("PRAGMA trusted_schema=OFF", "disabling trusted_schema"));
  ASSIGN_OR_RETURN(std::int64_t version, sqlite::MigrateSchema(*db, clock.Now()));
  return std::unique_ptr<SqliteKeyStore>(
      new SqliteKeyStore(std::move(db), clock, std::move(options), version));
}

SqliteKeyStore::SqliteKeyStore(std::unique_ptr<sqlite::Database> db, const Clock& clock,
                               SqliteKeyStoreOptions options, std::int64_t schema_version)
    : db_(std::move(db)),
      clock_(clock),
      options_(std::move(options)),
      schema_version_(schema_version),
      audit_batcher_(
          [this](const std::vector<AuditEvent>& events) {
            return Mutate([&]() -> absl::StatusOr<std::vector<AuditEntry>> {
              std::vector<AuditEntry> entries;
              entries.reserve(events.size());
              const absl::Time now = Now();
              for (const AuditEvent& event : events) {
                ASSIGN_OR_RETURN(AuditEntry entry, AppendLocked(event, now));
                entries.push_back(std::move(entry));
              }
              return entries;
            });
          },
          kMaxAuditBatch) {}

SqliteKeyStore::~SqliteKeyStore() {
  std::lock_guard lock(mutex_);
  if (shred_checkpoint_pending_) CheckpointForShredLocked(/*wait=*/true);
}

absl::Time SqliteKeyStore::Now() const {
  return absl::FromUnixMicros(absl::ToUnixMicros(clock_.Now()));
}

void SqliteKeyStore::CheckpointForShredLocked(bool wait) {
  // A retry must not stall an unrelated mutation behind a long reader (a backup): it
  // tries once without waiting and otherwise stays pending.
  if (!wait) sqlite3_busy_timeout(db_->handle(), 0);
  int result = sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                         nullptr, nullptr);
  if (!wait) sqlite3_busy_timeout(db_->handle(), static_cast<int>(options_.busy_timeout.count()));
  shred_checkpoint_pending_ = result != SQLITE_OK;
}

absl::StatusOr<std::optional<Volume>> SqliteKeyStore::FindLocked(std::string_view volume_id) {
  ASSIGN_OR_RETURN(Statement query, db_->Prepare("SELECT " CLOAK_SQLITE_VOLUME_COLUMNS
                                                 " FROM volumes WHERE volume_id = ?1"));
  query.BindText(1, volume_id);
  ASSIGN_OR_RETURN(bool row, query.Step(fmt::format("reading volume '{}'", volume_id)));
  if (!row) return std::nullopt;
  return sqlite::ReadVolume(query);
}

absl::Status SqliteKeyStore::InsertVolumeLocked(const Volume& row) {
  ASSIGN_OR_RETURN(Statement insert,
                   db_->Prepare("INSERT INTO volumes (" CLOAK_SQLITE_VOLUME_COLUMNS
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
  BindVolume(insert, row);
  return insert.Run(fmt::format("storing volume '{}'", row.volume_id));
}

absl::Status SqliteKeyStore::UpdateVolumeLocked(const Volume& row) {
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE volumes SET wrapped_dek = ?2, state = ?3, key_id = ?4, "
                                "key_version = ?5, kek_version = ?6, revision = ?7, "
                                "created_at_us = ?8, updated_at_us = ?9, source_volume_id = ?10, "
                                "labels_json = ?11, record_json = ?12 WHERE volume_id = ?1"));
  BindVolume(update, row);
  RETURN_IF_ERROR(update.Run(fmt::format("updating volume '{}'", row.volume_id)));
  if (sqlite3_changes(db_->handle()) != 1) {
    return absl::InternalError(fmt::format("volume '{}' vanished during an update", row.volume_id));
  }
  return absl::OkStatus();
}

absl::Status SqliteKeyStore::CreateVolume(const NewVolume& volume, const AuditEvent& event,
                                          Volume* stored) {
  RETURN_IF_ERROR(ValidateNewVolume(volume));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume.volume_id));
  absl::StatusOr<Volume> created = Mutate([&]() -> absl::StatusOr<Volume> {
    ASSIGN_OR_RETURN(std::optional<Volume> existing, FindLocked(volume.volume_id));
    if (existing) {
      *stored = *existing;
      return AlreadyExists(*existing);
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
    row.created_at = row.updated_at = Now();
    row.revision = 1;
    RETURN_IF_ERROR(InsertVolumeLocked(row));
    RETURN_IF_ERROR(AppendLocked(std::move(bound), row.created_at).status());
    return row;
  });
  if (!created.ok()) return created.status();
  *stored = *std::move(created);
  return absl::OkStatus();
}

absl::StatusOr<Volume> SqliteKeyStore::GetVolume(std::string_view volume_id) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(std::optional<Volume> row, FindLocked(volume_id));
  if (!row) return UnknownVolume(volume_id);
  return *std::move(row);
}

absl::StatusOr<Volume> SqliteKeyStore::GetVolumeKey(std::string_view volume_id) {
  ASSIGN_OR_RETURN(Volume row, GetVolume(volume_id));
  if (row.destroyed()) {
    return absl::NotFoundError(
        fmt::format("volume '{}' was destroyed; its key no longer exists", volume_id));
  }
  return row;
}

absl::StatusOr<Volume> SqliteKeyStore::CompareAndSetState(std::string_view volume_id,
                                                          VolumeState expected, VolumeState next,
                                                          const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  if (expected != VolumeState::kCreated || next != VolumeState::kFormatted) {
    return absl::InvalidArgumentError(
        fmt::format("volume state cannot go from {} to {}; only created to formatted",
                    VolumeStateName(expected), VolumeStateName(next)));
  }
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  return Mutate([&]() -> absl::StatusOr<Volume> {
    ASSIGN_OR_RETURN(std::optional<Volume> row, FindLocked(volume_id));
    if (!row) return UnknownVolume(volume_id);
    if (row->state != expected) {
      return absl::FailedPreconditionError(fmt::format("volume '{}' is {}, not {}", volume_id,
                                                       VolumeStateName(row->state),
                                                       VolumeStateName(expected)));
    }
    row->state = next;
    row->updated_at = Now();
    ++row->revision;
    RETURN_IF_ERROR(UpdateVolumeLocked(*row));
    RETURN_IF_ERROR(AppendLocked(std::move(bound), row->updated_at).status());
    return *std::move(row);
  });
}

absl::StatusOr<Volume> SqliteKeyStore::DestroyVolume(std::string_view volume_id,
                                                     const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  return Mutate([&]() -> absl::StatusOr<Volume> {
    ASSIGN_OR_RETURN(std::optional<Volume> row, FindLocked(volume_id));
    if (!row) return UnknownVolume(volume_id);
    absl::Time now = Now();
    if (!row->destroyed()) {
      row->state = VolumeState::kDestroyed;
      row->wrapped_dek = WrappedKey();
      row->updated_at = now;
      ++row->revision;
      RETURN_IF_ERROR(UpdateVolumeLocked(*row));
      shred_ = true;
    }
    RETURN_IF_ERROR(AppendLocked(std::move(bound), now).status());
    return *std::move(row);
  });
}

absl::Status SqliteKeyStore::CloneVolume(const CloneRequest& clone, const AuditEvent& event,
                                         Volume* stored) {
  RETURN_IF_ERROR(ValidateCloneRequest(clone));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, clone.volume_id));
  absl::StatusOr<Volume> created = Mutate([&]() -> absl::StatusOr<Volume> {
    ASSIGN_OR_RETURN(std::optional<Volume> existing, FindLocked(clone.volume_id));
    if (existing) {
      *stored = *existing;
      return AlreadyExists(*existing);
    }
    ASSIGN_OR_RETURN(std::optional<Volume> source, FindLocked(clone.source_volume_id));
    if (!source) return UnknownVolume(clone.source_volume_id);
    if (source->destroyed()) {
      return absl::FailedPreconditionError(
          fmt::format("cannot clone volume '{}': it was destroyed", clone.source_volume_id));
    }
    Volume row = *std::move(source);
    row.volume_id = clone.volume_id;
    if (!clone.record_json.empty()) row.record_json = clone.record_json;
    row.labels = clone.labels;
    row.source_volume_id = clone.source_volume_id;
    row.created_at = row.updated_at = Now();
    row.revision = 1;
    RETURN_IF_ERROR(InsertVolumeLocked(row));
    RETURN_IF_ERROR(AppendLocked(std::move(bound), row.created_at).status());
    return row;
  });
  if (!created.ok()) return created.status();
  *stored = *std::move(created);
  return absl::OkStatus();
}

absl::StatusOr<VolumePage> SqliteKeyStore::ListVolumes(const ListVolumesRequest& request) {
  ASSIGN_OR_RETURN(int page_size, NormalizePageSize(request.page_size, "page_size"));
  ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT " CLOAK_SQLITE_VOLUME_COLUMNS
                                " FROM volumes WHERE volume_id > ?1 ORDER BY volume_id LIMIT ?2"));
  query.BindText(1, after);
  query.BindInt64(2, page_size + 1);  // one more tells whether another page follows
  VolumePage page;
  while (true) {
    ASSIGN_OR_RETURN(bool row, query.Step("listing volumes"));
    if (!row) break;
    if (static_cast<int>(page.volumes.size()) == page_size) {
      page.next_page_token = EncodePageToken(page.volumes.back().volume_id);
      break;
    }
    ASSIGN_OR_RETURN(Volume volume, sqlite::ReadVolume(query));
    page.volumes.push_back(std::move(volume));
  }
  return page;
}

}  // namespace cloak::kms
