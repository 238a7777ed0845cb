#pragma once

// `cloakctl audit list` and `cloakctl audit verify`: reading the key service's
// hash-chained audit log and checking the chain on the client.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/command_io.h"
#include "cli/kms_client.h"
#include "nlohmann/json.hpp"

namespace cloak::cli {

struct AuditListArgs {
  std::uint64_t from_sequence = 1;
  int limit = 100;  // at most this many entries (1..)
};

// Lists entries from args.from_sequence, paging through ListAudit until args.limit are
// read or the log ends: a table, or {"entries": [...]} with the hashes in hex.
int RunAuditList(AdminClient& client, const AuditListArgs& args, const CommandIo& io);

struct AuditVerifyArgs {
  // "SEQ:HASH" printed by an earlier verification (N entries, head HASH); empty: none.
  // The log must still hold that entry with that hash, which catches a cut-off tail.
  std::string expect_head;
};

// A head recorded earlier: an entry's sequence number and its hash in hex.
struct RecordedHead {
  std::uint64_t sequence = 0;
  std::string hash_hex;
};

// Parses "SEQ:HASH" (SEQ >= 1, HASH 64 lower-case hex digits). INVALID_ARGUMENT naming
// --expect-head otherwise. Thread-safe.
absl::StatusOr<RecordedHead> ParseRecordedHead(absl::string_view text);

// Reads the whole log through ListAudit pages and recomputes the hash chain. kExitOk
// and "audit log verified: N entries, head <hex>"; kExitFailed naming the first bad
// sequence number and why (or how the log differs from args.expect_head), or the failed
// call; kExitUsage for a malformed args.expect_head.
int RunAuditVerify(AdminClient& client, const AuditVerifyArgs& args, const CommandIo& io);

// The JSON form of one entry. Thread-safe.
nlohmann::json AuditEntryJson(const v1::AuditEntry& entry);

}  // namespace cloak::cli
