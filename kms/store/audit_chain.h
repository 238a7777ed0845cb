#pragma once

// The audit log's hash chain. Entry n carries hash(n) = SHA-256(hash(n-1) ‖ E(n)), where
// hash(0) is 32 zero bytes and E is the canonical encoding below, so changing,
// removing or reordering any entry breaks every later link. Both store
// implementations build and check the chain with these functions.
//
// E(n), every integer big-endian, every string as lp(s) = u32 length ‖ bytes:
//   lp("cloak-audit-v1") ‖ u64 sequence ‖ i64 time in Unix microseconds ‖
//   lp(actor) ‖ lp(action) ‖ lp(volume_id) ‖ lp(outcome) ‖
//   u32 detail count ‖ (lp(key) ‖ lp(value)) for each detail in ascending key order

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/store/audit.h"

namespace cloak::kms {

// The canonical encoding E of `entry` (its hashes are not part of it).
std::vector<std::uint8_t> CanonicalAuditEncoding(const AuditEntry& entry);

// SHA-256(prev_hash ‖ CanonicalAuditEncoding(entry)).
AuditHash ComputeAuditHash(const AuditHash& prev_hash, const AuditEntry& entry);

// The entry that follows `head`: sequence head.sequence + 1, `time` truncated to whole
// microseconds (the precision that is stored and hashed), linked and hashed.
AuditEntry NextAuditEntry(const AuditHead& head, absl::Time time, AuditEvent event);

// Lower-case hex, for messages and the documentation's examples.
std::string AuditHashHex(const AuditHash& hash);
// Parses 32 raw bytes; INVALID_ARGUMENT for any other length.
absl::StatusOr<AuditHash> AuditHashFromBytes(std::string_view bytes);

// Checks a chain fed to it in order, from sequence 1. Not thread-safe.
class AuditChainVerifier {
 public:
  // OK when `entry` continues the chain; otherwise DATA_LOSS naming the first broken
  // sequence number (a missing one when there is a gap), and every later call fails too.
  absl::Status Add(const AuditEntry& entry);
  // The last entry accepted.
  const AuditHead& head() const { return head_; }

 private:
  AuditHead head_;
  absl::Status failure_;
};

}  // namespace cloak::kms
