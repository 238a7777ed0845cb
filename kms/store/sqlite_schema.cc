#include "kms/store/sqlite_schema.h"

#include <array>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::kms::sqlite {
namespace {

struct Migration {
  std::int64_t version;
  const char* sql;
};

// Append only: a released migration never changes; later changes are new entries.
constexpr std::array kMigrations = {
    Migration{1, R"sql(
CREATE TABLE volumes (
  volume_id        TEXT    PRIMARY KEY NOT NULL,
  -- Early in the row so that it stays on the row's own b-tree page, where
  -- secure_delete overwrites it when the volume is destroyed.
  wrapped_dek      BLOB,
  state            TEXT    NOT NULL CHECK (state IN ('created', 'formatted', 'destroyed')),
  key_id           TEXT    NOT NULL,
  key_version      INTEGER NOT NULL CHECK (key_version > 0),
  kek_version      INTEGER NOT NULL CHECK (kek_version > 0),
  revision         INTEGER NOT NULL CHECK (revision > 0),
  created_at_us    INTEGER NOT NULL,
  updated_at_us    INTEGER NOT NULL,
  source_volume_id TEXT    REFERENCES volumes (volume_id),
  labels_json      TEXT    NOT NULL,
  record_json      TEXT    NOT NULL,
  CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
) WITHOUT ROWID;

CREATE INDEX volumes_by_kek_version ON volumes (kek_version, volume_id)
  WHERE wrapped_dek IS NOT NULL;

CREATE TABLE policies (
  name          TEXT    NOT NULL,
  version       INTEGER NOT NULL CHECK (version > 0),
  document      TEXT    NOT NULL,
  created_at_us INTEGER NOT NULL,
  PRIMARY KEY (name, version)
) WITHOUT ROWID;

CREATE TABLE kek_rotation (
  id                 INTEGER PRIMARY KEY CHECK (id = 1),
  target_kek_version INTEGER NOT NULL,
  done               INTEGER NOT NULL,
  total              INTEGER NOT NULL,
  state              TEXT    NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
  started_at_us      INTEGER NOT NULL,
  updated_at_us      INTEGER NOT NULL,
  revision           INTEGER NOT NULL
);

CREATE TABLE audit_log (
  sequence     INTEGER PRIMARY KEY CHECK (sequence > 0),
  time_us      INTEGER NOT NULL,
  actor        TEXT    NOT NULL,
  action       TEXT    NOT NULL,
  volume_id    TEXT    NOT NULL,
  outcome      TEXT    NOT NULL,
  details_json TEXT    NOT NULL,
  prev_hash    BLOB    NOT NULL,
  hash         BLOB    NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
)sql"},
};

absl::StatusOr<std::int64_t> CurrentVersion(Database& db) {
  ASSIGN_OR_RETURN(Statement query,
                   db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  ASSIGN_OR_RETURN(bool row, query.Step("reading the key store schema version"));
  return row ? query.Int64(0) : 0;
}

}  // namespace

std::int64_t LatestSchemaVersion() { return kMigrations.back().version; }

absl::StatusOr<std::int64_t> MigrateSchema(Database& db, absl::Time now) {
  FaultPoints no_faults;
  ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(db, no_faults));
  RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
              " version INTEGER PRIMARY KEY, applied_at_us INTEGER NOT NULL)",
              "creating the schema_migrations table"));
  ASSIGN_OR_RETURN(std::int64_t current, CurrentVersion(db));
  if (current > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(fmt::format(
        "key store {} has schema version {}, newer than this build supports ({}); run a newer "
        "cloak-kms or restore a backup written by this one",
        db.path(), current, LatestSchemaVersion()));
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= current) continue;
    RETURN_IF_ERROR(
        db.Exec(migration.sql, fmt::format("applying key store migration {}", migration.version)));
    ASSIGN_OR_RETURN(Statement record,
                     db.Prepare("INSERT INTO schema_migrations (version, applied_at_us) "
                                "VALUES (?1, ?2)"));
    record.BindInt64(1, migration.version);
    record.BindInt64(2, absl::ToUnixMicros(now));
    RETURN_IF_ERROR(record.Run("recording a key store migration"));
  }
  RETURN_IF_ERROR(transaction.Commit());
  return LatestSchemaVersion();
}

}  // namespace cloak::kms::sqlite
