// Crash consistency: a key service killed with SIGKILL in the middle of a stream of
// mutations leaves a store in which every volume row is either fully present with its
// audit event or absent, and the audit chain verifies.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include "gtest/gtest.h"
#include "kms/store/sqlite_key_store.h"
#include "kms/store/testing/fake_clock.h"
#include "tests/kms/store/store_test_util.h"
#include "tests/kms/store/temp_dir.h"

namespace cloak::kms {
namespace {

// Creates pvc-0, pvc-1, ... and destroys every third one shortly after, writing one
// byte to `ack_fd` after each committed mutation. Never returns.
[[noreturn]] void MutateForever(const std::string& path, int ack_fd,
                                SqliteKeyStoreOptions options) {
  SystemClock clock;
  absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store =
      SqliteKeyStore::Open(path, clock, std::move(options));
  if (!store.ok()) _exit(2);
  for (int i = 0;; ++i) {
    Volume stored;
    std::string id = "pvc-" + std::to_string(i);
    if (!(*store)->CreateVolume(TestVolume(id), TestEvent("CreateVolumeKey"), &stored).ok()) {
      _exit(3);
    }
    if (write(ack_fd, "c", 1) != 1) _exit(4);
    if (i % 3 == 2) {
      std::string victim = "pvc-" + std::to_string(i - 1);
      if (!(*store)->DestroyVolume(victim, TestEvent("DestroyVolumeKey")).ok()) _exit(5);
      if (write(ack_fd, "d", 1) != 1) _exit(6);
    }
  }
}

// Checks the reopened store: rows and audit events match one to one.
void CheckConsistent(const std::string& path, int acknowledged_creates) {
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<SqliteKeyStore>> reopened = SqliteKeyStore::Open(path, clock);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  KeyStore& store = **reopened;

  absl::StatusOr<AuditHead> head = store.VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();

  std::set<std::string> created_events;
  std::set<std::string> destroyed_events;
  for (std::uint64_t from = 1;;) {
    absl::StatusOr<std::vector<AuditEntry>> batch = store.ListAudit(from, kMaxPageSize);
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (batch->empty()) break;
    for (const AuditEntry& entry : *batch) {
      auto& events = entry.event.action == "CreateVolumeKey" ? created_events : destroyed_events;
      EXPECT_TRUE(events.insert(entry.event.volume_id).second) << entry.sequence;
    }
    from = batch->back().sequence + 1;
  }

  std::map<std::string, Volume> rows;
  ListVolumesRequest request{kMaxPageSize, ""};
  do {
    absl::StatusOr<VolumePage> page = store.ListVolumes(request);
    ASSERT_TRUE(page.ok()) << page.status();
    for (Volume& volume : page->volumes) rows.emplace(volume.volume_id, std::move(volume));
    request.page_token = page->next_page_token;
  } while (!request.page_token.empty());

  EXPECT_EQ(rows.size(), created_events.size());
  EXPECT_GE(static_cast<int>(rows.size()), acknowledged_creates);
  for (const auto& [id, row] : rows) {
    EXPECT_TRUE(created_events.contains(id)) << id << " has no create event";
    EXPECT_EQ(row.destroyed(), destroyed_events.contains(id)) << id;
    EXPECT_EQ(row.wrapped_dek.empty(), row.destroyed()) << id;
    if (!row.destroyed()) {
      EXPECT_EQ(row.wrapped_dek, TestWrapped(id)) << id;
    }
    EXPECT_EQ(row.record_json, TestVolume(id).record_json) << id;
  }
  for (const std::string& id : created_events) EXPECT_TRUE(rows.contains(id)) << id;
}

TEST(SqliteCrashTest, KillNineDuringMutationsLeavesNoHalfWrittenRecord) {
  for (int round = 0; round < 3; ++round) {
    TempDir dir;
    std::string path = dir.File("store.db");
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(pipe_fds[0]);
      MutateForever(path, pipe_fds[1], {});
    }
    close(pipe_fds[1]);

    // Let it commit a batch, then kill it at an arbitrary point of the next one.
    const int target = 150 + round * 100;
    int creates = 0;
    int acks = 0;
    while (acks < target) {
      pollfd fd{pipe_fds[0], POLLIN, 0};
      ASSERT_EQ(poll(&fd, 1, 30'000), 1) << "the child stopped making progress";
      char buffer[64];
      ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
      ASSERT_GT(n, 0) << "the child exited early";
      for (ssize_t i = 0; i < n; ++i) creates += buffer[i] == 'c';
      acks += static_cast<int>(n);
    }
    usleep(static_cast<useconds_t>(round * 700));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    close(pipe_fds[0]);

    CheckConsistent(path, creates);
  }
}

TEST(SqliteCrashTest, KillBetweenWriteAndCommitLeavesNeitherRowNorEvent) {
  TempDir dir;
  std::string path = dir.File("store.db");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SystemClock clock;
    {
      absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store = SqliteKeyStore::Open(path, clock);
      if (!store.ok()) _exit(2);
      for (int i = 0; i < 20; ++i) {
        Volume stored;
        std::string id = "pvc-" + std::to_string(i);
        if (!(*store)->CreateVolume(TestVolume(id), TestEvent("CreateVolumeKey"), &stored).ok()) {
          _exit(3);
        }
      }
    }
    absl::StatusOr<FaultPoints> faults = FaultPoints::Parse("kms.store.sqlite.before_commit=kill");
    if (!faults.ok()) _exit(4);
    SqliteKeyStoreOptions options;
    options.faults = *faults;
    absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store =
        SqliteKeyStore::Open(path, clock, options);
    if (!store.ok()) _exit(5);
    Volume stored;
    (void)(*store)->CreateVolume(TestVolume("pvc-doomed"), TestEvent("CreateVolumeKey"), &stored);
    _exit(6);  // not reached: the fault point kills the process before COMMIT
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  CheckConsistent(path, 20);
  FakeClock clock;
  auto store = SqliteKeyStore::Open(path, clock);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->GetVolume("pvc-doomed").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->VerifyAuditChain()->sequence, 20u);
}

}  // namespace
}  // namespace cloak::kms
