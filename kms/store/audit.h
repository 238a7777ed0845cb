#pragma once

// The audit log's records (DESIGN §2 invariant 8). An AuditEvent is what a caller
// reports; the store turns it into an AuditEntry with a sequence number, a time and a
// place in the hash chain (see audit_chain.h).

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"

namespace cloak::kms {

// Never key bytes, wrapped or not, and never raw attestation evidence: details carry
// identifiers, versions, codes and digests only.
struct AuditEvent {
  std::string actor;      // attested identity or admin certificate subject
  std::string action;     // e.g. "CreateVolumeKey", "GetVolumeKey", "RotateKek"
  std::string volume_id;  // empty for events about no volume; filled in by mutations
  std::string outcome;    // e.g. "ok", "denied", "NOT_FOUND"
  std::map<std::string, std::string> details;

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

using AuditHash = std::array<std::uint8_t, 32>;

struct AuditEntry {
  std::uint64_t sequence = 0;  // 1, 2, 3, ... without gaps
  absl::Time time;             // the store's clock when the entry was appended
  AuditEvent event;
  AuditHash prev_hash{};  // hash of entry sequence-1; all zeros for sequence 1
  AuditHash hash{};       // SHA-256(prev_hash ‖ canonical encoding), see audit_chain.h

  friend bool operator==(const AuditEntry&, const AuditEntry&) = default;
};

// The last entry of a verified chain; sequence 0 and a zero hash for an empty log.
// Recording the head elsewhere lets a later check detect a truncated tail.
struct AuditHead {
  std::uint64_t sequence = 0;
  AuditHash hash{};
};

}  // namespace cloak::kms
