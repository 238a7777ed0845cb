#pragma once

// SqliteKeyStore: the embedded default KeyStore, one SQLite file.
//
// The file is created with mode 0600 and refused when group or others can read it. It
// runs in WAL mode with synchronous=FULL (a committed mutation survives power loss),
// foreign keys on and secure_delete on (erased key bytes are overwritten). Every
// mutation is one BEGIN IMMEDIATE transaction holding the change and its audit entry.
//
// Thread safety: one connection, guarded by one mutex; every method is thread-safe and
// runs one at a time. A point read takes microseconds, so the mutex is not the key
// service's bottleneck; WAL keeps readers in other processes (a backup) unblocked.
// Several processes may open the same file; a writer waits up to busy_timeout for
// another's lock, then the call returns UNAVAILABLE.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/fault_injection.h"
#include "kms/store/audit_batcher.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"
#include "kms/store/sqlite_db.h"

namespace cloak::kms {

struct SqliteKeyStoreOptions {
  // How long a mutation waits for another connection's lock before UNAVAILABLE.
  std::chrono::milliseconds busy_timeout{5000};
  // Crash tests: "kms.store.sqlite.before_commit" fires inside every transaction, after
  // its writes and before COMMIT.
  FaultPoints faults;
};

class SqliteKeyStore final : public KeyStore {
 public:
  // Opens the store at `path`, creating it (0600) and migrating its schema as needed.
  // `clock` must outlive the store. FAILED_PRECONDITION when the file is not a regular
  // file, not ours, readable by group or others, or from a newer schema; INTERNAL when it
  // is not a key store database; UNAVAILABLE when it cannot be opened or stays locked.
  static absl::StatusOr<std::unique_ptr<SqliteKeyStore>> Open(const std::string& path,
                                                              const Clock& clock,
                                                              SqliteKeyStoreOptions options = {});
  ~SqliteKeyStore() override;

  absl::Status CreateVolume(const NewVolume& volume, const AuditEvent& event,
                            Volume* stored) override;
  absl::StatusOr<Volume> GetVolume(std::string_view volume_id) override;
  absl::StatusOr<Volume> GetVolumeKey(std::string_view volume_id) override;
  absl::StatusOr<Volume> CompareAndSetState(std::string_view volume_id, VolumeState expected,
                                            VolumeState next, const AuditEvent& event) override;
  absl::StatusOr<Volume> DestroyVolume(std::string_view volume_id,
                                       const AuditEvent& event) override;
  absl::Status CloneVolume(const CloneRequest& clone, const AuditEvent& event,
                           Volume* stored) override;
  absl::StatusOr<VolumePage> ListVolumes(const ListVolumesRequest& request) override;
  absl::StatusOr<std::vector<Volume>> ListByKekVersion(std::uint32_t kek_version,
                                                       std::string_view after_volume_id,
                                                       int limit) override;
  absl::StatusOr<std::map<std::uint32_t, std::int64_t>> CountByKekVersion() override;
  absl::StatusOr<Volume> RewrapVolume(std::string_view volume_id, std::int64_t expected_revision,
                                      const WrappedKey& new_wrapped, std::uint32_t new_kek_version,
                                      const AuditEvent& event) override;
  absl::StatusOr<RotationProgress> GetRotationProgress() override;
  absl::StatusOr<RotationProgress> PutRotationProgress(const RotationProgress& progress,
                                                       std::int64_t expected_revision,
                                                       const AuditEvent& event) override;
  absl::StatusOr<PolicyRecord> PutPolicy(std::string_view name, std::string_view document,
                                         std::int64_t expected_version,
                                         const AuditEvent& event) override;
  absl::StatusOr<PolicyRecord> GetPolicy(std::string_view name, std::int64_t version) override;
  absl::StatusOr<AuditEntry> AppendAudit(const AuditEvent& event) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::uint64_t from_sequence,
                                                    int limit) override;
  absl::StatusOr<AuditHead> VerifyAuditChain() override;

  std::int64_t schema_version() const { return schema_version_; }
  // Audit commits so far (AppendAudit group-commits concurrent events; tests).
  std::size_t audit_commits() const { return audit_batcher_.commits(); }

 private:
  SqliteKeyStore(std::unique_ptr<sqlite::Database> db, const Clock& clock,
                 SqliteKeyStoreOptions options, std::int64_t schema_version);

  // Runs `fn` inside BEGIN IMMEDIATE under the mutex and commits when it returns OK;
  // otherwise nothing it wrote stays.
  template <typename Fn>
  auto Mutate(Fn&& fn) -> decltype(fn());

  absl::Time Now() const;
  absl::StatusOr<std::optional<Volume>> FindLocked(std::string_view volume_id);
  absl::Status InsertVolumeLocked(const Volume& row);
  absl::Status UpdateVolumeLocked(const Volume& row);
  absl::StatusOr<AuditEntry> AppendLocked(AuditEvent event, absl::Time now);
  absl::StatusOr<std::optional<RotationProgress>> RotationLocked();
  // Moves every committed page into the main file and empties the WAL, so that erased
  // key bytes survive in neither. Right after a destroy it waits up to the busy timeout
  // for readers; when still blocked it stays pending and later mutations retry it
  // without waiting.
  void CheckpointForShredLocked(bool wait);

  std::mutex mutex_;
  std::unique_ptr<sqlite::Database> db_;
  const Clock& clock_;
  SqliteKeyStoreOptions options_;
  std::int64_t schema_version_;
  bool shred_ = false;  // set by a mutation that erased key bytes
  bool shred_checkpoint_pending_ = false;
  // Declared last: its commit function uses the members above.
  AuditBatcher audit_batcher_;
};

template <typename Fn>
auto SqliteKeyStore::Mutate(Fn&& fn) -> decltype(fn()) {
  std::lock_guard lock(mutex_);
  absl::StatusOr<sqlite::Transaction> transaction =
      sqlite::Transaction::Begin(*db_, options_.faults);
  if (!transaction.ok()) return transaction.status();
  shred_ = false;
  auto result = fn();
  if (!result.ok()) return result;  // the transaction rolls back
  if (absl::Status status = transaction->Commit(); !status.ok()) return status;
  if (shred_) {
    CheckpointForShredLocked(/*wait=*/true);
  } else if (shred_checkpoint_pending_) {
    CheckpointForShredLocked(/*wait=*/false);
  }
  return result;
}

}  // namespace cloak::kms
