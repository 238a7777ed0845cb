#pragma once

// The SQLite key store's schema and its migrations. Each migration is applied once, in
// order, inside one BEGIN IMMEDIATE transaction together with its row in
// schema_migrations; docs/kms-store.md describes the resulting schema.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/store/sqlite_db.h"

namespace cloak::kms::sqlite {

// The newest schema version this build knows.
std::int64_t LatestSchemaVersion();

// Brings `db` to LatestSchemaVersion() and returns it. FAILED_PRECONDITION when the file
// was written by a newer build (its version is higher than ours); the errors of
// SqliteStatus otherwise.
absl::StatusOr<std::int64_t> MigrateSchema(Database& db, absl::Time now);

}  // namespace cloak::kms::sqlite
