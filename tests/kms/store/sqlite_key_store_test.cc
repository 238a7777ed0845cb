#include "kms/store/sqlite_key_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "gmock/gmock.h"
#include "kms/store/sqlite_schema.h"
#include "tests/kms/store/key_store_conformance.h"
#include "tests/kms/store/store_test_util.h"
#include "tests/kms/store/temp_dir.h"

namespace cloak::kms {
namespace {

using ::testing::HasSubstr;

class SqliteHarness : public StoreHarness {
 public:
  SqliteHarness() {
    absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store =
        SqliteKeyStore::Open(dir_.File("store.db"), clock());
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      std::abort();
    }
    store_ = *std::move(store);
  }
  KeyStore& store() override { return *store_; }

 private:
  TempDir dir_;
  std::unique_ptr<SqliteKeyStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, KeyStoreConformance,
                         ::testing::Values(ConformanceParam{
                             "Sqlite", [] { return std::make_unique<SqliteHarness>(); }}),
                         ConformanceName);

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs SQL on the file through a separate, raw connection.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int result = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(result, SQLITE_OK) << (error != nullptr ? error : "") << " in: " << sql;
  sqlite3_free(error);
  sqlite3_close(db);
}

class SqliteKeyStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteKeyStore> MustOpen(SqliteKeyStoreOptions options = {}) {
    absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store =
        SqliteKeyStore::Open(path_, clock_, std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  TempDir dir_;
  std::string path_ = dir_.File("store.db");
  FakeClock clock_;
};

TEST_F(SqliteKeyStoreTest, CreatesAPrivateFileAndPrivateWalFiles) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  Volume stored;
  ASSERT_TRUE(store->CreateVolume(TestVolume("pvc-1"), TestEvent("CreateVolumeKey"), &stored).ok());
  EXPECT_EQ(ModeOf(path_), 0600);
  EXPECT_EQ(ModeOf(path_ + "-wal"), 0600);
  EXPECT_EQ(ModeOf(path_ + "-shm"), 0600);
  EXPECT_EQ(store->schema_version(), sqlite::LatestSchemaVersion());
}

TEST_F(SqliteKeyStoreTest, RefusesAFileThatGroupOrOthersCanRead) {
  MustOpen().reset();
  for (mode_t mode : {0640, 0604, 0660, 0666}) {
    ASSERT_EQ(chmod(path_.c_str(), mode), 0);
    absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store = SqliteKeyStore::Open(path_, clock_);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << mode;
    EXPECT_THAT(store.status().message(), HasSubstr("chmod 600"));
  }
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  EXPECT_NE(MustOpen(), nullptr);
}

TEST_F(SqliteKeyStoreTest, RefusesASymlink) {
  MustOpen().reset();
  std::string link = dir_.File("link.db");
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  EXPECT_EQ(SqliteKeyStore::Open(link, clock_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteKeyStoreTest, DataSurvivesReopening) {
  Volume created;
  {
    auto store = MustOpen();
    ASSERT_TRUE(
        store->CreateVolume(TestVolume("pvc-1"), TestEvent("CreateVolumeKey"), &created).ok());
    ASSERT_TRUE(store->PutPolicy("attestation", "{}", 0, TestEvent("SetPolicy")).ok());
    ASSERT_TRUE(store->PutRotationProgress(TestRotation(2, 1), 0, TestEvent("RotateKek")).ok());
  }
  auto store = MustOpen();
  EXPECT_EQ(*store->GetVolume("pvc-1"), created);
  EXPECT_EQ(store->GetPolicy("attestation", 0)->version, 1);
  EXPECT_EQ(store->GetRotationProgress()->target_kek_version, 2u);
  absl::StatusOr<AuditHead> head = store->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 3u);
  // The chain continues across the reopen.
  ASSERT_TRUE(store->AppendAudit(TestEvent("GetVolumeKey")).ok());
  EXPECT_EQ(store->VerifyAuditChain()->sequence, 4u);
}

TEST_F(SqliteKeyStoreTest, GarbageFileIsInternalError) {
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  std::string garbage(8192, '\x5a');
  ASSERT_EQ(write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  close(fd);
  absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store = SqliteKeyStore::Open(path_, clock_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("restore"));
}

TEST_F(SqliteKeyStoreTest, NewerSchemaIsRefused) {
  MustOpen().reset();
  RawExec(path_, "INSERT INTO schema_migrations (version, applied_at_us) VALUES (99, 0)");
  absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store = SqliteKeyStore::Open(path_, clock_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

TEST_F(SqliteKeyStoreTest, LockedDatabaseIsUnavailableAfterTheBusyTimeout) {
  SqliteKeyStoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(100);
  auto store = MustOpen(options);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  Volume stored;
  absl::Status status =
      store->CreateVolume(TestVolume("pvc-1"), TestEvent("CreateVolumeKey"), &stored);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  // Readers are not blocked by a writer in WAL mode.
  EXPECT_EQ(store->GetVolume("pvc-1").status().code(), absl::StatusCode::kNotFound);

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(store->CreateVolume(TestVolume("pvc-1"), TestEvent("CreateVolumeKey"), &stored).ok());
  EXPECT_EQ(store->VerifyAuditChain()->sequence, 1u);
}

TEST_F(SqliteKeyStoreTest, FailedMutationLeavesNeitherRowNorEvent) {
  auto store = MustOpen();
  // An audit log that refuses appends makes the mutation fail after its row was written.
  RawExec(path_,
          "CREATE TRIGGER refuse_append BEFORE INSERT ON audit_log "
          "BEGIN SELECT RAISE(ABORT, 'refused'); END");
  Volume stored;
  EXPECT_FALSE(
      store->CreateVolume(TestVolume("pvc-1"), TestEvent("CreateVolumeKey"), &stored).ok());
  RawExec(path_, "DROP TRIGGER refuse_append");
  EXPECT_EQ(store->GetVolume("pvc-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->ListAudit(1, 10)->empty());
}

TEST_F(SqliteKeyStoreTest, AuditLogIsAppendOnlyInTheSchema) {
  auto store = MustOpen();
  ASSERT_TRUE(store->AppendAudit(TestEvent("GetVolumeKey")).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit_log SET outcome = 'x'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit_log", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_TRUE(store->VerifyAuditChain().ok());
}

// Invariant 7: after DestroyVolume the wrapped key bytes are in neither the database
// file nor its WAL.
TEST_F(SqliteKeyStoreTest, DestroyErasesTheWrappedKeyFromTheFiles) {
  auto store = MustOpen();
  const std::string marker = "WRAPPED-KEY-MARKER-3f9c1a7e-0123456789abcdef-000000000000";
  NewVolume volume = TestVolume("pvc-shred");
  volume.wrapped_dek = WrappedKey(std::vector<std::uint8_t>(marker.begin(), marker.end()));
  Volume stored;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        store->CreateVolume(TestVolume("pvc-" + std::to_string(i)), TestEvent("Create"), &stored)
            .ok());
  }
  ASSERT_TRUE(store->CreateVolume(volume, TestEvent("CreateVolumeKey"), &stored).ok());
  std::string before = ReadFile(path_) + ReadFile(path_ + "-wal");
  ASSERT_NE(before.find(marker), std::string::npos) << "the scan would not see the key";

  ASSERT_TRUE(store->DestroyVolume("pvc-shred", TestEvent("DestroyVolumeKey")).ok());
  std::string after = ReadFile(path_) + ReadFile(path_ + "-wal");
  EXPECT_EQ(after.find(marker), std::string::npos);
  EXPECT_EQ(after.find(marker.substr(0, 24)), std::string::npos);
  EXPECT_TRUE(store->GetVolumeKey("pvc-10").ok());
}

TEST_F(SqliteKeyStoreTest, ShredBlockedByAReaderCompletesOnALaterMutation) {
  SqliteKeyStoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(100);
  auto store = MustOpen(options);
  const std::string marker = "WRAPPED-KEY-MARKER-a1b2c3d4-deferred-shred-0000000000000000";
  NewVolume volume = TestVolume("pvc-shred");
  volume.wrapped_dek = WrappedKey(std::vector<std::uint8_t>(marker.begin(), marker.end()));
  Volume stored;
  ASSERT_TRUE(store->CreateVolume(volume, TestEvent("CreateVolumeKey"), &stored).ok());

  // A reader (a backup, say) holds a snapshot that still contains the key.
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &reader), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM volumes;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_TRUE(store->DestroyVolume("pvc-shred", TestEvent("DestroyVolumeKey")).ok());
  EXPECT_EQ(store->GetVolumeKey("pvc-shred").status().code(), absl::StatusCode::kNotFound);
  std::string blocked = ReadFile(path_) + ReadFile(path_ + "-wal");
  ASSERT_NE(blocked.find(marker), std::string::npos) << "the reader did not block the shred";
  ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(reader);

  ASSERT_TRUE(store->AppendAudit(TestEvent("GetVolumeKey")).ok());
  std::string after = ReadFile(path_) + ReadFile(path_ + "-wal");
  EXPECT_EQ(after.find(marker.substr(0, 24)), std::string::npos);
}

}  // namespace
}  // namespace cloak::kms
