#include "kms/store/sqlite_db.h"

#include <utility>

#include "fmt/format.h"

namespace cloak::kms::sqlite {

absl::Status SqliteStatus(int result, sqlite3* db, std::string_view context) {
  std::string detail = sqlite3_errstr(result);
  if (db != nullptr && sqlite3_errcode(db) == result) detail = sqlite3_errmsg(db);
  std::string message = fmt::format("{}: {}", context, detail);
  switch (result & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          message +
          "; another process holds the key store database locked past the busy "
          "timeout; retry, and check that only one key service uses this file");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::InternalError(message +
                                 "; the key store database is corrupt; stop the key service "
                                 "and restore the file from a backup");
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(message + "; free disk space");
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(message + "; check the disk and the file's directory");
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::FailedPreconditionError(message +
                                           "; the key store file must be writable by the key "
                                           "service's user");
    default:
      return absl::InternalError(message);
  }
}

Statement::Statement(Statement&& other) noexcept
    : statement_(std::exchange(other.statement_, nullptr)),
      db_(other.db_),
      bind_error_(other.bind_error_) {}

Statement::~Statement() {
  if (statement_ != nullptr) {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
}

void Statement::BindText(int index, std::string_view text) {
  int result = sqlite3_bind_text64(statement_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8);
  if (bind_error_ == SQLITE_OK) bind_error_ = result;
}

void Statement::BindBlob(int index, std::span<const std::uint8_t> bytes) {
  // A zero-length blob is bound as a blob, not NULL: SQLite needs a non-null pointer.
  static const std::uint8_t kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  int result = sqlite3_bind_blob64(statement_, index, data, bytes.size(), SQLITE_TRANSIENT);
  if (bind_error_ == SQLITE_OK) bind_error_ = result;
}

void Statement::BindInt64(int index, std::int64_t value) {
  int result = sqlite3_bind_int64(statement_, index, value);
  if (bind_error_ == SQLITE_OK) bind_error_ = result;
}

void Statement::BindNull(int index) {
  int result = sqlite3_bind_null(statement_, index);
  if (bind_error_ == SQLITE_OK) bind_error_ = result;
}

absl::StatusOr<bool> Statement::Step(std::string_view context) {
  if (bind_error_ != SQLITE_OK) return SqliteStatus(bind_error_, db_, context);
  int result = sqlite3_step(statement_);
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  return SqliteStatus(result, db_, context);
}

absl::Status Statement::Run(std::string_view context) {
  absl::StatusOr<bool> row = Step(context);
  if (!row.ok()) return row.status();
  if (*row) return absl::InternalError(fmt::format("{}: returned an unexpected row", context));
  return absl::OkStatus();
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

std::int64_t Statement::Int64(int column) const { return sqlite3_column_int64(statement_, column); }

std::string Statement::Text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
  int size = sqlite3_column_bytes(statement_, column);
  return text == nullptr ? std::string() : std::string(text, static_cast<std::size_t>(size));
}

std::string Statement::Blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(statement_, column));
  int size = sqlite3_column_bytes(statement_, column);
  return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(size));
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         std::chrono::milliseconds busy_timeout) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  int result = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (result != SQLITE_OK) {
    absl::Status status = SqliteStatus(result, db, fmt::format("opening key store {}", path));
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  return std::unique_ptr<Database>(new Database(db, path));
}

Database::~Database() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close_v2(db_);
}

absl::Status Database::Exec(const char* sql, std::string_view context) {
  int result = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (result != SQLITE_OK) {
    return SqliteStatus(result, db_, fmt::format("{} ({})", context, path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* statement = nullptr;
    int result = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    if (result != SQLITE_OK) {
      return SqliteStatus(result, db_, fmt::format("preparing a query on {}", path_));
    }
    it = statements_.emplace(sql, statement).first;
  }
  return Statement(it->second, db_);
}

absl::StatusOr<Transaction> Transaction::Begin(Database& db, const FaultPoints& faults) {
  absl::Status status = db.Exec("BEGIN IMMEDIATE", "starting a key store transaction");
  if (!status.ok()) return status;
  return Transaction(db, faults);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), faults_(other.faults_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

absl::Status Transaction::Commit() {
  faults_->Hit("kms.store.sqlite.before_commit");
  absl::Status status = db_->Exec("COMMIT", "committing a key store transaction");
  if (status.ok()) open_ = false;
  return status;
}

}  // namespace cloak::kms::sqlite
