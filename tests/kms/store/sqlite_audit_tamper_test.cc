// Tampering with the audit log inside the database file is caught by
// VerifyAuditChain, which names the first broken sequence number.

#include <fstream>
#include <iterator>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/store/sqlite_key_store.h"
#include "kms/store/testing/fake_clock.h"
#include "sqlite3.h"
#include "tests/kms/store/store_test_util.h"
#include "tests/kms/store/temp_dir.h"

namespace cloak::kms {
namespace {

using ::testing::HasSubstr;

class SqliteAuditTamperTest : public ::testing::Test {
 protected:
  // Writes five audit entries whose actors are unique markers, then closes the store
  // (which checkpoints the WAL into the main file).
  void SetUp() override {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int i = 1; i <= 5; ++i) {
      AuditEvent event = TestEvent("GetVolumeKey", i == 3 ? "denied" : "ok");
      event.actor = "node-actor-marker-000" + std::to_string(i);
      ASSERT_TRUE(store->AppendAudit(event).ok());
    }
    ASSERT_TRUE(store->VerifyAuditChain().ok());
  }

  std::unique_ptr<SqliteKeyStore> Open() {
    absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store = SqliteKeyStore::Open(path_, clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  absl::Status VerifyAfterReopen() {
    auto store = Open();
    if (store == nullptr) return absl::InternalError("reopen failed");
    return store->VerifyAuditChain().status();
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  TempDir dir_;
  std::string path_ = dir_.File("store.db");
  FakeClock clock_;
};

TEST_F(SqliteAuditTamperTest, EditedBytesInTheFileAreReportedAtThatSequence) {
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string marker = "node-actor-marker-0003";
  std::size_t at = bytes.find(marker);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(marker, at + 1), std::string::npos);
  bytes[at] = 'N';  // same length: the page still parses, only the content differs
  {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  absl::Status status = VerifyAfterReopen();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("sequence 3"));
}

TEST_F(SqliteAuditTamperTest, RewrittenOutcomeIsReportedAtThatSequence) {
  Sql("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET outcome = 'ok' WHERE sequence = 3");
  absl::Status status = VerifyAfterReopen();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("sequence 3"));
}

TEST_F(SqliteAuditTamperTest, RemovedEntryIsReportedAtItsSequence) {
  Sql("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE sequence = 2");
  absl::Status status = VerifyAfterReopen();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("sequence 2"));
}

TEST_F(SqliteAuditTamperTest, SwappedEntriesAreDetected) {
  Sql("DROP TRIGGER audit_log_no_update;"
      "UPDATE audit_log SET sequence = 100 WHERE sequence = 2;"
      "UPDATE audit_log SET sequence = 2 WHERE sequence = 4;"
      "UPDATE audit_log SET sequence = 4 WHERE sequence = 100;");
  absl::Status status = VerifyAfterReopen();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("sequence 2"));
}

TEST_F(SqliteAuditTamperTest, ForgedHashColumnIsReported) {
  Sql("DROP TRIGGER audit_log_no_update;"
      "UPDATE audit_log SET hash = zeroblob(32) WHERE sequence = 5");
  absl::Status status = VerifyAfterReopen();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("sequence 5"));
}

}  // namespace
}  // namespace cloak::kms
