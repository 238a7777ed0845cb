#pragma once

// Client-side check of the audit log's hash chain (docs/kms-store.md): entries as
// ListAudit returns them are converted back to the store's AuditEntry and fed to the
// store's own AuditChainVerifier, so that client and service hash the same canonical
// encoding (kms/store/audit_chain.h).

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kms/proto/kms.pb.h"
#include "kms/store/audit.h"
#include "kms/store/audit_chain.h"

namespace cloak::cli {

// The store's form of a listed entry. DATA_LOSS naming the sequence when a hash is not
// 32 bytes. Thread-safe.
absl::StatusOr<kms::AuditEntry> AuditEntryFromProto(const kms::v1::AuditEntry& entry);

// Checks a log fed to it in listing order, from sequence 1. Not thread-safe.
class AuditLogChecker {
 public:
  // OK while the chain holds; otherwise DATA_LOSS naming the first bad sequence number
  // and why (changed, missing, out of place), and every later call returns the same.
  absl::Status Add(const kms::v1::AuditEntry& entry);

  // Entries accepted so far, and the last of them (sequence 0, zero hash: none).
  std::uint64_t verified() const { return verifier_.head().sequence; }
  const kms::AuditHead& head() const { return verifier_.head(); }
  // The first sequence number that failed; 0 while none has.
  std::uint64_t first_bad_sequence() const { return first_bad_; }

 private:
  kms::AuditChainVerifier verifier_;
  absl::Status failure_;
  std::uint64_t first_bad_ = 0;
};

// Feeds every entry of `entries` to a fresh checker; OK with the head, or its failure.
absl::StatusOr<kms::AuditHead> VerifyAuditEntries(const std::vector<kms::v1::AuditEntry>& entries);

}  // namespace cloak::cli
