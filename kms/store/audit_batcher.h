#pragma once

// AuditBatcher: group commit for KeyStore::AppendAudit.
//
// Every key release appends an audit entry, and the hash chain makes appends strictly
// sequential; committing each on its own costs one durable write (an fsync, or an etcd
// Raft round) per release. Callers that arrive while a commit is in flight queue up; the
// first of them to find no commit running becomes the leader and commits everything
// queued so far in one transaction, then wakes the others with their own entries. No
// caller returns before its entry is durable, so "no release without its audit entry"
// (invariant 8) holds exactly as with one commit per entry. No thread of its own.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "kms/store/audit.h"

namespace cloak::kms {

class AuditBatcher {
 public:
  // Commits `events` in order in one transaction, returning one entry per event (same
  // order), or an error after which none of them is stored.
  using CommitFn =
      std::function<absl::StatusOr<std::vector<AuditEntry>>(const std::vector<AuditEvent>&)>;

  // `max_batch` bounds one transaction (etcd limits the operations of a Txn).
  AuditBatcher(CommitFn commit, std::size_t max_batch);

  // Queues `event`, waits until a commit holding it succeeded or failed, and returns its
  // entry or that commit's error. Thread-safe; blocks for at most two commits.
  absl::StatusOr<AuditEntry> Append(const AuditEvent& event);

  // Commits made so far and events they held (for tests and benchmarks). Thread-safe.
  std::size_t commits() const;
  std::size_t committed_events() const;

 private:
  struct Pending {
    AuditEvent event;
    bool done = false;
    absl::StatusOr<AuditEntry> result = absl::UnknownError("not committed");
  };

  const CommitFn commit_;
  const std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool leader_active_ = false;
  std::size_t commits_ = 0;
  std::size_t committed_events_ = 0;
};

}  // namespace cloak::kms
