// The client-side audit chain check on crafted logs: intact, an entry modified, removed
// or reordered, a malformed hash; and `audit verify` / `audit list` over pages.

#include "cli/audit_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "cli/audit_command.h"
#include "cli/exit_codes.h"
#include "kms/store/audit_chain.h"
#include "tests/cli/fake_admin_client.h"

namespace cloak::cli {
namespace {

using testing::FakeAdminClient;
using ::testing::HasSubstr;

v1::AuditEntry ToProto(const kms::AuditEntry& entry) {
  v1::AuditEntry out;
  out.set_sequence(entry.sequence);
  out.set_time_unix_us(absl::ToUnixMicros(entry.time));
  out.set_actor(entry.event.actor);
  out.set_action(entry.event.action);
  out.set_volume_id(entry.event.volume_id);
  out.set_outcome(entry.event.outcome);
  out.mutable_details()->insert(entry.event.details.begin(), entry.event.details.end());
  out.set_prev_hash(std::string(entry.prev_hash.begin(), entry.prev_hash.end()));
  out.set_hash(std::string(entry.hash.begin(), entry.hash.end()));
  return out;
}

// A valid chain of `n` entries built with the store's own functions.
std::vector<v1::AuditEntry> Chain(int n) {
  std::vector<v1::AuditEntry> entries;
  kms::AuditHead head;
  for (int i = 1; i <= n; ++i) {
    kms::AuditEntry entry = kms::NextAuditEntry(
        head, absl::FromUnixMicros(1'700'000'000'000'000 + i),
        kms::AuditEvent{.actor = "admin",
                        .action = i % 2 ? "GetVolume" : "RotateKek",
                        .volume_id = i % 2 ? "pvc-" + std::to_string(i) : "",
                        .outcome = "ok",
                        .details = {{"kek_version", std::to_string(i)}, {"b", "x"}}});
    head = {entry.sequence, entry.hash};
    entries.push_back(ToProto(entry));
  }
  return entries;
}

std::uint64_t FirstBad(const std::vector<v1::AuditEntry>& entries) {
  AuditLogChecker checker;
  for (const v1::AuditEntry& entry : entries) {
    if (!checker.Add(entry).ok()) break;
  }
  return checker.first_bad_sequence();
}

TEST(AuditVerifyTest, IntactChainVerifiesWithItsHead) {
  std::vector<v1::AuditEntry> entries = Chain(5);
  absl::StatusOr<kms::AuditHead> head = VerifyAuditEntries(entries);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 5u);
  EXPECT_EQ(std::string(head->hash.begin(), head->hash.end()), entries.back().hash());
  EXPECT_EQ(FirstBad(entries), 0u);
  EXPECT_TRUE(VerifyAuditEntries({}).ok());
}

TEST(AuditVerifyTest, ModifiedFieldIsReportedAtItsSequence) {
  for (auto modify : std::vector<std::function<void(v1::AuditEntry&)>>{
           [](v1::AuditEntry& e) { e.set_outcome("denied"); },
           [](v1::AuditEntry& e) { e.set_actor("admin2"); },
           [](v1::AuditEntry& e) { e.set_time_unix_us(e.time_unix_us() + 1); },
           [](v1::AuditEntry& e) { (*e.mutable_details())["b"] = "y"; },
           [](v1::AuditEntry& e) { e.mutable_details()->erase("b"); },
       }) {
    std::vector<v1::AuditEntry> entries = Chain(5);
    modify(entries[2]);
    absl::StatusOr<kms::AuditHead> head = VerifyAuditEntries(entries);
    EXPECT_EQ(head.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(head.status().message()),
                HasSubstr("sequence 3: its contents do not match"));
    EXPECT_EQ(FirstBad(entries), 3u);
  }
}

TEST(AuditVerifyTest, RemovedEntryIsReportedAtTheMissingSequence) {
  std::vector<v1::AuditEntry> entries = Chain(5);
  entries.erase(entries.begin() + 1);
  absl::StatusOr<kms::AuditHead> head = VerifyAuditEntries(entries);
  EXPECT_THAT(std::string(head.status().message()),
              HasSubstr("sequence 2: expected sequence 2 but found 3"));
  EXPECT_EQ(FirstBad(entries), 2u);
}

TEST(AuditVerifyTest, ReorderedEntriesAreReportedAtTheFirstOutOfPlace) {
  std::vector<v1::AuditEntry> entries = Chain(5);
  std::swap(entries[1], entries[3]);
  EXPECT_EQ(FirstBad(entries), 2u);
  // Swapped and renumbered, as an edit of the sequence column would leave them.
  std::vector<v1::AuditEntry> renumbered = Chain(5);
  std::swap(renumbered[1], renumbered[3]);
  renumbered[1].set_sequence(2);
  renumbered[3].set_sequence(4);
  absl::StatusOr<kms::AuditHead> head = VerifyAuditEntries(renumbered);
  EXPECT_THAT(std::string(head.status().message()), HasSubstr("sequence 2"));
  EXPECT_EQ(FirstBad(renumbered), 2u);
}

TEST(AuditVerifyTest, ForgedOrMalformedHashes) {
  std::vector<v1::AuditEntry> entries = Chain(3);
  entries[2].set_hash(std::string(32, '\0'));
  EXPECT_EQ(FirstBad(entries), 3u);
  entries = Chain(3);
  entries[1].set_hash("short");
  absl::StatusOr<kms::AuditHead> head = VerifyAuditEntries(entries);
  EXPECT_EQ(head.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(head.status().message()),
              HasSubstr("sequence 2: its hash is not 32 bytes"));
  EXPECT_EQ(FirstBad(entries), 2u);
}

TEST(AuditCommandTest, VerifyReadsEveryPage) {
  FakeAdminClient client;
  client.audit = Chain(2500);
  client.max_audit_page = 700;
  std::ostringstream out, err;
  EXPECT_EQ(RunAuditVerify(client, {}, {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitOk)
      << err.str();
  EXPECT_EQ(out.str(),
            "audit log verified: 2500 entries, head " + Hex(client.audit.back().hash()) + "\n");
}

TEST(AuditCommandTest, VerifyFailureNamesTheSequence) {
  FakeAdminClient client;
  client.audit = Chain(1200);
  client.audit[1100].set_volume_id("pvc-other");
  std::ostringstream out, err;
  EXPECT_EQ(RunAuditVerify(client, {}, {.format = OutputFormat::kJson, .out = out, .err = err}),
            kExitFailed);
  nlohmann::json doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["verified"], false);
  EXPECT_EQ(doc["first_bad_sequence"], 1101);
  EXPECT_EQ(doc["entries_verified"], 1100);
  EXPECT_THAT(err.str(), HasSubstr("FAILED at sequence 1101: audit log broken at sequence 1101"));
}

TEST(AuditCommandTest, ExpectedHeadCatchesACutOffTailAndARewrite) {
  FakeAdminClient client;
  client.audit = Chain(20);
  const std::string recorded = "15:" + Hex(client.audit[14].hash());
  std::ostringstream out, err;
  const CommandIo io{.format = OutputFormat::kText, .out = out, .err = err};
  EXPECT_EQ(RunAuditVerify(client, {.expect_head = recorded}, io), kExitOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("audit log verified: 20 entries"));

  client.audit.resize(12);  // the newest entries removed: still a valid chain
  EXPECT_EQ(RunAuditVerify(client, {}, io), kExitOk);
  EXPECT_EQ(RunAuditVerify(client, {.expect_head = recorded}, io), kExitFailed);
  EXPECT_THAT(err.str(), HasSubstr("the log ends at sequence 12 but the recorded head is at "
                                   "sequence 15: entries were removed from its end"));

  // A whole new, valid chain (e.g. rebuilt by someone who can write the store).
  client.audit.clear();
  kms::AuditHead head;
  for (int i = 1; i <= 20; ++i) {
    kms::AuditEntry entry =
        kms::NextAuditEntry(head, absl::FromUnixMicros(1'700'000'000'000'000 + i),
                            kms::AuditEvent{.actor = "forger",
                                            .action = "GetVolume",
                                            .volume_id = "",
                                            .outcome = "ok",
                                            .details = {}});
    head = {entry.sequence, entry.hash};
    client.audit.push_back(ToProto(entry));
  }
  std::ostringstream err2;
  EXPECT_EQ(RunAuditVerify(client, {.expect_head = recorded},
                           {.format = OutputFormat::kText, .out = out, .err = err2}),
            kExitFailed);
  EXPECT_THAT(err2.str(), HasSubstr("entry 15 has hash"));
  EXPECT_THAT(err2.str(), HasSubstr("the log was rewritten"));
}

TEST(AuditCommandTest, MalformedExpectedHeadIsAUsageError) {
  EXPECT_FALSE(ParseRecordedHead("15").ok());
  EXPECT_FALSE(ParseRecordedHead("0:" + std::string(64, 'a')).ok());
  EXPECT_FALSE(ParseRecordedHead("15:" + std::string(63, 'a')).ok());
  EXPECT_FALSE(ParseRecordedHead("15:" + std::string(64, 'A')).ok());
  absl::StatusOr<RecordedHead> head = ParseRecordedHead("15:" + std::string(64, 'a'));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->sequence, 15u);
  FakeAdminClient client;
  std::ostringstream out, err;
  EXPECT_EQ(RunAuditVerify(client, {.expect_head = "nope"},
                           {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("--expect-head nope: expected SEQ:HASH"));
  EXPECT_EQ(client.calls, 0);
}

TEST(AuditCommandTest, ListShowsATableOrJsonFromTheGivenSequence) {
  FakeAdminClient client;
  client.audit = Chain(10);
  std::ostringstream out, err;
  EXPECT_EQ(RunAuditList(client, {.from_sequence = 4, .limit = 3},
                         {.format = OutputFormat::kText, .out = out, .err = err}),
            kExitOk);
  EXPECT_EQ(out.str(),
            "SEQ  TIME                         ACTOR  ACTION     VOLUME  OUTCOME  DETAILS\n"
            "4    2023-11-14T22:13:20.000004Z  admin  RotateKek  -       ok       "
            "b=x,kek_version=4\n"
            "5    2023-11-14T22:13:20.000005Z  admin  GetVolume  pvc-5   ok       "
            "b=x,kek_version=5\n"
            "6    2023-11-14T22:13:20.000006Z  admin  RotateKek  -       ok       "
            "b=x,kek_version=6\n");
  std::ostringstream json, err2;
  EXPECT_EQ(RunAuditList(client, {.from_sequence = 9, .limit = 100},
                         {.format = OutputFormat::kJson, .out = json, .err = err2}),
            kExitOk);
  nlohmann::json doc = nlohmann::json::parse(json.str());
  ASSERT_EQ(doc["entries"].size(), 2u);
  EXPECT_EQ(doc["entries"][1]["sequence"], 10);
  EXPECT_EQ(doc["entries"][1]["hash"], Hex(client.audit[9].hash()));
}

}  // namespace
}  // namespace cloak::cli
