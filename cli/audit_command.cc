#include "cli/audit_command.h"

#include <algorithm>
#include <map>
#include <optional>
#include <ostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/audit_verify.h"
#include "cli/exit_codes.h"
#include "kms/store/audit_chain.h"

namespace cloak::cli {
namespace {

constexpr int kPageSize = 1000;  // the service's cap

std::map<std::string, std::string> SortedDetails(const v1::AuditEntry& entry) {
  return {entry.details().begin(), entry.details().end()};
}

// The next page's first sequence, or an error when the service went backwards (which
// would otherwise loop forever).
absl::StatusOr<std::uint64_t> NextFrom(const v1::ListAuditResponse& page, std::uint64_t from) {
  const std::uint64_t last = page.entries(page.entries_size() - 1).sequence();
  if (last < from) {
    return absl::DataLossError(absl::StrCat("ListAudit from sequence ", from,
                                            " returned entries ending at sequence ", last,
                                            "; the service's audit listing is out of order"));
  }
  return last + 1;
}

}  // namespace

nlohmann::json AuditEntryJson(const v1::AuditEntry& entry) {
  return {{"sequence", entry.sequence()},
          {"time", FormatUnixMicros(entry.time_unix_us())},
          {"time_unix_us", entry.time_unix_us()},
          {"actor", entry.actor()},
          {"action", entry.action()},
          {"volume_id", entry.volume_id()},
          {"outcome", entry.outcome()},
          {"details", SortedDetails(entry)},
          {"prev_hash", Hex(entry.prev_hash())},
          {"hash", Hex(entry.hash())}};
}

int RunAuditList(AdminClient& client, const AuditListArgs& args, const CommandIo& io) {
  std::vector<v1::AuditEntry> entries;
  std::uint64_t from = args.from_sequence;
  while (static_cast<int>(entries.size()) < args.limit) {
    const int want = std::min(kPageSize, args.limit - static_cast<int>(entries.size()));
    absl::StatusOr<v1::ListAuditResponse> page = client.ListAudit(from, want);
    if (!page.ok()) {
      WriteError(io.err, "audit list", page.status());
      return kExitFailed;
    }
    if (page->entries().empty()) break;
    absl::StatusOr<std::uint64_t> next = NextFrom(*page, from);
    if (!next.ok()) {
      WriteError(io.err, "audit list", next.status());
      return kExitFailed;
    }
    from = *next;
    for (v1::AuditEntry& entry : *page->mutable_entries()) entries.push_back(std::move(entry));
    if (page->entries_size() < want) break;  // the end of the log
  }
  if (entries.size() > static_cast<std::size_t>(args.limit)) entries.resize(args.limit);
  if (io.format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::AuditEntry& entry : entries) list.push_back(AuditEntryJson(entry));
    WriteJson(io.out, {{"entries", list}});
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  rows.reserve(entries.size());
  for (const v1::AuditEntry& entry : entries) {
    rows.push_back({std::to_string(entry.sequence()), FormatUnixMicros(entry.time_unix_us()),
                    entry.actor(), entry.action(),
                    entry.volume_id().empty() ? "-" : entry.volume_id(), entry.outcome(),
                    absl::StrJoin(SortedDetails(entry), ",", absl::PairFormatter("="))});
  }
  WriteTable(io.out, {"SEQ", "TIME", "ACTOR", "ACTION", "VOLUME", "OUTCOME", "DETAILS"}, rows);
  return kExitOk;
}

absl::StatusOr<RecordedHead> ParseRecordedHead(absl::string_view text) {
  const std::size_t colon = text.find(':');
  RecordedHead head;
  const absl::string_view hash = colon == absl::string_view::npos ? "" : text.substr(colon + 1);
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(text.substr(0, colon), &head.sequence) || head.sequence == 0 ||
      hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--expect-head ", text,
        ": expected SEQ:HASH, the entry count and the 64 lower-case hex digits that an "
        "earlier `cloakctl audit verify` printed"));
  }
  head.hash_hex = std::string(hash);
  return head;
}

int RunAuditVerify(AdminClient& client, const AuditVerifyArgs& args, const CommandIo& io) {
  std::optional<RecordedHead> expected;
  if (!args.expect_head.empty()) {
    absl::StatusOr<RecordedHead> parsed = ParseRecordedHead(args.expect_head);
    if (!parsed.ok()) {
      io.err << "cloakctl audit verify: " << parsed.status().message()
             << "\nRun `cloakctl audit verify --help` for its options.\n";
      return kExitUsage;
    }
    expected = *parsed;
  }
  std::string hash_at_expected;  // the verified hash of entry expected->sequence
  AuditLogChecker checker;
  absl::Status broken;
  std::uint64_t from = 1;
  while (broken.ok()) {
    absl::StatusOr<v1::ListAuditResponse> page = client.ListAudit(from, kPageSize);
    if (!page.ok()) {
      WriteError(io.err, "audit verify", page.status());
      return kExitFailed;
    }
    if (page->entries().empty()) break;
    for (const v1::AuditEntry& entry : page->entries()) {
      broken = checker.Add(entry);
      if (!broken.ok()) break;
      if (expected && entry.sequence() == expected->sequence) hash_at_expected = Hex(entry.hash());
    }
    if (!broken.ok()) break;
    absl::StatusOr<std::uint64_t> next = NextFrom(*page, from);
    if (!next.ok()) {
      WriteError(io.err, "audit verify", next.status());
      return kExitFailed;
    }
    from = *next;
  }
  const std::string head = kms::AuditHashHex(checker.head().hash);
  if (!broken.ok()) {
    if (io.format == OutputFormat::kJson) {
      WriteJson(io.out, {{"verified", false},
                         {"first_bad_sequence", checker.first_bad_sequence()},
                         {"entries_verified", checker.verified()},
                         {"last_good_hash", head},
                         {"error", std::string(broken.message())}});
    }
    io.err << "cloakctl audit verify: FAILED at sequence " << checker.first_bad_sequence() << ": "
           << broken.message() << "\n";
    return kExitFailed;
  }
  if (expected) {
    // The chain alone cannot show that its newest entries were cut off; a head recorded
    // earlier can.
    std::string mismatch;
    if (checker.head().sequence < expected->sequence) {
      mismatch = absl::StrCat("the log ends at sequence ", checker.head().sequence,
                              " but the recorded head is at sequence ", expected->sequence,
                              ": entries were removed from its end");
    } else if (hash_at_expected != expected->hash_hex) {
      mismatch = absl::StrCat("entry ", expected->sequence, " has hash ", hash_at_expected,
                              ", not the recorded ", expected->hash_hex,
                              ": the log was rewritten since that head was recorded");
    }
    if (!mismatch.empty()) {
      if (io.format == OutputFormat::kJson) {
        WriteJson(io.out, {{"verified", false},
                           {"first_bad_sequence",
                            std::min(checker.head().sequence + 1, expected->sequence)},
                           {"entries_verified", checker.verified()},
                           {"head", head},
                           {"error", mismatch}});
      }
      io.err << "cloakctl audit verify: FAILED against --expect-head: " << mismatch
             << "; restore the store from a backup and investigate\n";
      return kExitFailed;
    }
  }
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, {{"verified", true},
                       {"entries", checker.verified()},
                       {"head_sequence", checker.head().sequence},
                       {"head", head}});
  } else {
    io.out << "audit log verified: " << checker.verified() << " entries, head " << head << "\n";
  }
  return kExitOk;
}

}  // namespace cloak::cli
