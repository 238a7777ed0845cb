#pragma once

// The two halves of one EtcdKeyStore mutation: a Snapshot of the keys it read (all at
// one etcd revision) and the Writes it wants committed. EtcdKeyStore turns the Writes
// into one etcd Txn guarded by the revision of every key in the Snapshot, so that the
// commit fails (and the mutation is retried from the read) when any of them changed.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "kms/store/audit.h"
#include "kms/store/etcd/etcd_rpc.pb.h"

namespace cloak::kms::etcd {

class Snapshot {
 public:
  // `keys[i]` was read by `responses[i]` (point reads).
  Snapshot(const std::vector<std::string>& keys, const etcdserverpb::TxnResponse& response);

  // The key as read, or null when it does not exist.
  const mvccpb::KeyValue* Find(std::string_view key) const;
  // Every point read: key → mod_revision (0 when the key was missing).
  const std::map<std::string, std::int64_t, std::less<>>& revisions() const { return revisions_; }

 private:
  std::map<std::string, mvccpb::KeyValue, std::less<>> found_;
  std::map<std::string, std::int64_t, std::less<>> revisions_;
};

class Writes {
 public:
  void Put(std::string key, std::string value);
  void Delete(std::string key);
  // Adds a compare that `key` does not exist (for keys not in the Snapshot).
  void ExpectAbsent(std::string key);
  // An audit event the mutation appends, stamped with `time`: at least once per
  // mutation; several (a group commit) are chained in the order appended.
  void Append(AuditEvent event, absl::Time time);
  // After the commit, compact etcd's history up to it (the mutation erased a key).
  void CompactAfterCommit() { compact_ = true; }

  const std::vector<etcdserverpb::RequestOp>& ops() const { return ops_; }
  const std::vector<std::string>& absent() const { return absent_; }
  const std::vector<std::pair<AuditEvent, absl::Time>>& audit() const { return audit_; }
  bool compact() const { return compact_; }

 private:
  std::vector<etcdserverpb::RequestOp> ops_;
  std::vector<std::string> absent_;
  std::vector<std::pair<AuditEvent, absl::Time>> audit_;
  bool compact_ = false;
};

// A compare that `key` is at `mod_revision` (0: that it does not exist).
etcdserverpb::Compare RevisionIs(const std::string& key, std::int64_t mod_revision);

}  // namespace cloak::kms::etcd
