#pragma once

// EtcdKeyStore's class; construct it with OpenEtcdKeyStore (kms/store/etcd_key_store.h).
//
// Thread safety: every method is thread-safe. Reads run concurrently. Mutations of one
// replica take turns on a local mutex: every mutation commits against the one audit
// head, so running them side by side would only make them conflict; conflicts with
// other replicas are settled by etcd's compares and retried.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "kms/store/audit_batcher.h"
#include "kms/store/clock.h"
#include "kms/store/etcd/client.h"
#include "kms/store/etcd/codec.h"
#include "kms/store/etcd/mutation.h"
#include "kms/store/etcd_key_store.h"
#include "kms/store/key_store.h"

namespace cloak::kms::etcd {

class EtcdKeyStore final : public KeyStore {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdKeyStore>> Open(const EtcdOptions& options);

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

 private:
  EtcdKeyStore(std::unique_ptr<Client> client, const EtcdOptions& options);

  // Reads `keys` and the audit head at one revision, lets `fn` decide, and commits its
  // Writes in one Txn guarded by the revision of every key read. Retries from the read
  // when another writer got there first; `fn` may run several times and its error
  // (NOT_FOUND, ALREADY_EXISTS, ...) ends the call with nothing written.
  template <typename T, typename Fn>
  absl::StatusOr<T> Mutate(std::string_view what, std::vector<std::string> keys, Fn&& fn);

  absl::Time Deadline() const { return absl::Now() + options_.call_timeout; }
  absl::Time Now() const;
  // Reads `keys` (point reads) at one revision, in one round trip.
  absl::StatusOr<etcdserverpb::TxnResponse> ReadKeys(const std::vector<std::string>& keys,
                                                     absl::Time deadline, std::string_view what);
  // One range read, up to `limit` keys (0: no limit).
  absl::StatusOr<etcdserverpb::RangeResponse> ReadRange(std::string begin, std::string end,
                                                        std::int64_t limit, absl::Time deadline,
                                                        std::string_view what,
                                                        bool keys_only = false);
  absl::StatusOr<std::optional<Volume>> FindVolume(const Snapshot& snapshot,
                                                   std::string_view volume_id) const;
  // Writes `row` (and its KEK index entry) in place of `old` (null for a new row).
  void WriteVolume(Writes& writes, const Volume* old, const Volume& row) const;
  // Turns `writes` into the commit Txn on top of `snapshot`; the audit entries follow
  // the snapshot's head, and the last of them is returned through `last_entry`.
  absl::StatusOr<etcdserverpb::TxnRequest> BuildCommit(const Snapshot& snapshot,
                                                       const Writes& writes,
                                                       AuditEntry* last_entry) const;
  absl::StatusOr<AuditHead> ReadHead(const Snapshot& snapshot) const;
  // Sleeps a random time that grows with `attempt`, never past `deadline`.
  static void Backoff(int attempt, absl::Time deadline);
  // One Txn appending `events` in order (AuditBatcher's commit).
  absl::StatusOr<std::vector<AuditEntry>> CommitAudit(const std::vector<AuditEvent>& events);
  void CompactTo(std::int64_t revision);

  std::unique_ptr<Client> client_;
  EtcdOptions options_;
  KeyLayout keys_;
  SystemClock system_clock_;
  const Clock& clock_;
  std::timed_mutex mutate_mutex_;
  // Declared last: its commit function uses the members above.
  AuditBatcher audit_batcher_;
};

template <typename T, typename Fn>
absl::StatusOr<T> EtcdKeyStore::Mutate(std::string_view what, std::vector<std::string> keys,
                                       Fn&& fn) {
  absl::Time deadline = Deadline();
  std::unique_lock lock(mutate_mutex_, std::defer_lock);
  if (!lock.try_lock_until(absl::ToChronoTime(deadline))) {
    return absl::UnavailableError(
        fmt::format("{}: timed out behind this replica's earlier mutations; etcd is slow or "
                    "unreachable, retry later",
                    what));
  }
  keys.push_back(keys_.AuditHead());
  // A commit that got no answer may have been applied. The next read then looks for its
  // audit entry: found with the same bytes, the commit did happen.
  std::optional<std::pair<std::string, std::string>> unanswered;
  std::optional<T> unanswered_result;
  auto outcome_unknown = [](const absl::Status& status) {
    return absl::UnavailableError(
        fmt::format("{}; the change may or may not have been stored: read it again before retrying",
                    std::string(status.message())));
  };
  for (int attempt = 0; attempt < options_.max_txn_attempts; ++attempt) {
    std::vector<std::string> read_keys = keys;
    if (unanswered) read_keys.push_back(unanswered->first);
    absl::StatusOr<etcdserverpb::TxnResponse> read = ReadKeys(read_keys, deadline, what);
    if (!read.ok()) return unanswered ? outcome_unknown(read.status()) : read.status();
    Snapshot snapshot(read_keys, *read);
    if (unanswered) {
      const mvccpb::KeyValue* entry = snapshot.Find(unanswered->first);
      if (entry != nullptr && entry->value() == unanswered->second) return *unanswered_result;
      unanswered.reset();
    }
    Writes writes;
    absl::StatusOr<T> result = fn(snapshot, writes);
    if (!result.ok()) return result.status();
    AuditEntry entry;
    absl::StatusOr<etcdserverpb::TxnRequest> commit = BuildCommit(snapshot, writes, &entry);
    if (!commit.ok()) return commit.status();
    absl::StatusOr<etcdserverpb::TxnResponse> committed =
        client_->Txn(*commit, deadline, what, Retry::kNever);
    if (!committed.ok()) {
      if (committed.status().code() != absl::StatusCode::kUnavailable || absl::Now() >= deadline) {
        if (committed.status().code() == absl::StatusCode::kUnavailable) {
          return outcome_unknown(committed.status());
        }
        return committed.status();
      }
      unanswered.emplace(keys_.Audit(entry.sequence), EncodeAuditEntry(entry));
      unanswered_result = *result;
      Backoff(attempt, deadline);
      continue;
    }
    if (committed->succeeded()) {
      if (writes.compact()) CompactTo(committed->header().revision());
      return result;
    }
    Backoff(attempt, deadline);
    if (absl::Now() >= deadline) break;
  }
  return absl::AbortedError(
      fmt::format("{}: other key-service replicas kept changing the same keys ({} attempts); "
                  "read it again and retry",
                  what, options_.max_txn_attempts));
}

}  // namespace cloak::kms::etcd
