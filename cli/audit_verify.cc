#include "cli/audit_verify.h"

#include "absl/strings/str_cat.h"
#include "kms/store/audit_chain.h"

namespace cloak::cli {

absl::StatusOr<kms::AuditEntry> AuditEntryFromProto(const kms::v1::AuditEntry& entry) {
  kms::AuditEntry out;
  out.sequence = entry.sequence();
  out.time = absl::FromUnixMicros(entry.time_unix_us());
  out.event.actor = entry.actor();
  out.event.action = entry.action();
  out.event.volume_id = entry.volume_id();
  out.event.outcome = entry.outcome();
  out.event.details.insert(entry.details().begin(), entry.details().end());
  absl::StatusOr<kms::AuditHash> prev = kms::AuditHashFromBytes(entry.prev_hash());
  absl::StatusOr<kms::AuditHash> hash = kms::AuditHashFromBytes(entry.hash());
  if (!prev.ok() || !hash.ok()) {
    return absl::DataLossError(absl::StrCat("audit log broken at sequence ", entry.sequence(),
                                            ": its ", prev.ok() ? "hash" : "previous-entry hash",
                                            " is not 32 bytes (",
                                            (prev.ok() ? hash : prev).status().message(), ")"));
  }
  out.prev_hash = *prev;
  out.hash = *hash;
  return out;
}

absl::Status AuditLogChecker::Add(const kms::v1::AuditEntry& entry) {
  if (!failure_.ok()) return failure_;
  absl::StatusOr<kms::AuditEntry> converted = AuditEntryFromProto(entry);
  failure_ = converted.ok() ? verifier_.Add(*converted) : converted.status();
  // Every failure is at the entry after the last accepted one: a changed entry, the
  // first missing one, or the first out of place.
  if (!failure_.ok()) first_bad_ = verifier_.head().sequence + 1;
  return failure_;
}

absl::StatusOr<kms::AuditHead> VerifyAuditEntries(const std::vector<kms::v1::AuditEntry>& entries) {
  AuditLogChecker checker;
  for (const kms::v1::AuditEntry& entry : entries) {
    if (absl::Status status = checker.Add(entry); !status.ok()) return status;
  }
  return checker.head();
}

}  // namespace cloak::cli
