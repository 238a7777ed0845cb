#pragma once

// EtcdKeyStore: the KeyStore for several key-service replicas, kept in an etcd v3
// cluster (docs/kms-store.md, "etcd implementation").
//
// Every mutation reads the keys it depends on and commits its change and its audit
// entry in one etcd transaction guarded by the revisions it read, the audit head's
// included; a conflicting commit by another replica makes it read again and retry, up
// to max_txn_attempts times with jittered backoff, and then fail with ABORTED. A call
// answers within call_timeout; when etcd cannot be reached by then, UNAVAILABLE.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"

namespace cloak::kms {

struct EtcdOptions {
  // etcd client URLs: "host:port", "http://host:port" or "https://host:port".
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};
  // Every key the store writes starts with this ('/' is appended when missing).
  std::string key_prefix = "/cloak/v1/";
  // The most one KeyStore call may take, retries included.
  absl::Duration call_timeout = absl::Seconds(5);
  // Commits tried per mutation before ABORTED (conflicts with other replicas).
  int max_txn_attempts = 64;
  // TLS to etcd: PEM files. Any set (or an https:// endpoint) selects TLS; an empty
  // ca_file then trusts the system roots. cert_file and key_file go together.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // After a destroy, compact etcd's history up to it so that the old revisions holding
  // the wrapped key are dropped (a defragmentation then frees their pages on disk).
  // Compaction is cluster-wide: turn this off when the etcd cluster is shared and
  // compacted by its owner.
  bool compact_after_destroy = true;
  // Stamps rows and audit entries; null means the system clock. Must outlive the store.
  const Clock* clock = nullptr;
};

// Connects to etcd and checks that it answers. INVALID_ARGUMENT for bad options;
// FAILED_PRECONDITION when a TLS file cannot be read or etcd refuses the credentials;
// UNAVAILABLE when no endpoint answers within call_timeout; INTERNAL when the audit head
// is unreadable.
absl::StatusOr<std::unique_ptr<KeyStore>> OpenEtcdKeyStore(const EtcdOptions& options);

}  // namespace cloak::kms
