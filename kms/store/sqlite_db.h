#pragma once

// Thin RAII wrappers over the SQLite C API for SqliteKeyStore: a connection with a
// prepared-statement cache, statements that reset themselves, and BEGIN IMMEDIATE
// transactions that roll back unless committed. None of these is thread-safe: the
// store serialises every use behind its own mutex.

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/fault_injection.h"

namespace cloak::kms::sqlite {

// Maps an SQLite result code to a status that says what failed: BUSY/LOCKED →
// UNAVAILABLE, CORRUPT/NOTADB → INTERNAL, FULL → RESOURCE_EXHAUSTED, I/O and open
// failures → UNAVAILABLE, READONLY/PERM → FAILED_PRECONDITION, anything else INTERNAL.
absl::Status SqliteStatus(int result, sqlite3* db, std::string_view context);

// One prepared statement on loan from the cache; reset and unbound when it goes out of
// scope. Bind indexes start at 1, column indexes at 0.
class Statement {
 public:
  Statement(sqlite3_stmt* statement, sqlite3* db) : statement_(statement), db_(db) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  void BindText(int index, std::string_view text);
  void BindBlob(int index, std::span<const std::uint8_t> bytes);
  void BindInt64(int index, std::int64_t value);
  void BindNull(int index);

  // Runs one step: true with a row to read, false when done.
  absl::StatusOr<bool> Step(std::string_view context);
  // Runs to completion, expecting no rows.
  absl::Status Run(std::string_view context);

  bool IsNull(int column) const;
  std::int64_t Int64(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;

 private:
  sqlite3_stmt* statement_;
  sqlite3* db_;
  int bind_error_ = SQLITE_OK;
};

class Database {
 public:
  // Opens an existing file read-write (never creates one, never follows a symlink).
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        std::chrono::milliseconds busy_timeout);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs SQL without results (pragmas that return nothing, DDL).
  absl::Status Exec(const char* sql, std::string_view context);
  // The cached prepared statement for `sql`.
  absl::StatusOr<Statement> Prepare(const char* sql);

  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// BEGIN IMMEDIATE on construction (via Begin); ROLLBACK on destruction unless Commit
// succeeded. Commit hits the fault point "kms.store.sqlite.before_commit" first, so a
// crash test can kill the process with the transaction written but not committed.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Database& db, const FaultPoints& faults);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  Transaction(Database& db, const FaultPoints& faults) : db_(&db), faults_(&faults) {}

  Database* db_;
  const FaultPoints* faults_;
  bool open_ = true;
};

}  // namespace cloak::kms::sqlite
