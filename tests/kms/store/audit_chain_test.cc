#include "kms/store/audit_chain.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cloak::kms {
namespace {

using ::testing::HasSubstr;

AuditEntry FirstEntry() {
  AuditEvent event{"alice", "CreateVolumeKey", "pvc-1", "ok", {{"b", "2"}, {"a", "1"}}};
  return NextAuditEntry(AuditHead{}, absl::FromUnixMicros(1'700'000'000'000'000), event);
}

AuditEntry SecondEntry(const AuditEntry& first) {
  AuditEvent event{"bob", "GetVolumeKey", "pvc-1", "denied", {}};
  return NextAuditEntry(AuditHead{first.sequence, first.hash},
                        absl::FromUnixMicros(1'700'000'000'000'001), event);
}

std::vector<AuditEntry> Chain(int length) {
  std::vector<AuditEntry> chain;
  AuditHead head;
  for (int i = 0; i < length; ++i) {
    AuditEvent event{"actor", "Action" + std::to_string(i), "", "ok", {}};
    chain.push_back(NextAuditEntry(head, absl::FromUnixSeconds(1000 + i), event));
    head = AuditHead{chain.back().sequence, chain.back().hash};
  }
  return chain;
}

absl::Status Verify(const std::vector<AuditEntry>& chain) {
  AuditChainVerifier verifier;
  for (const AuditEntry& entry : chain) {
    if (absl::Status status = verifier.Add(entry); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// Computed independently (Python hashlib) from the encoding documented in
// audit_chain.h and docs/kms-store.md.
TEST(AuditChainTest, MatchesIndependentlyComputedHashes) {
  AuditEntry first = FirstEntry();
  EXPECT_EQ(first.sequence, 1u);
  EXPECT_EQ(first.prev_hash, AuditHash{});
  EXPECT_EQ(AuditHashHex(first.hash),
            "14c855c777cf18db199abaa1645b63b3c98b586cf0cc44eaeee42baa8987fd8b");
  AuditEntry second = SecondEntry(first);
  EXPECT_EQ(second.prev_hash, first.hash);
  EXPECT_EQ(AuditHashHex(second.hash),
            "2c57ddec57f2aab7de34a23eb45145237da982d6e0ea3d7b89e3272878f953df");
}

TEST(AuditChainTest, EncodingIsLengthPrefixedSoFieldBoundariesMatter) {
  AuditEntry a = FirstEntry();
  AuditEntry b = a;
  a.event.actor = "ab";
  a.event.action = "c";
  b.event.actor = "a";
  b.event.action = "bc";
  EXPECT_NE(CanonicalAuditEncoding(a), CanonicalAuditEncoding(b));
  AuditEntry c = FirstEntry();
  AuditEntry d = c;
  c.event.details = {{"k", "v=w"}};
  d.event.details = {{"k=v", "w"}};
  EXPECT_NE(ComputeAuditHash({}, c), ComputeAuditHash({}, d));
}

TEST(AuditChainTest, TimeIsTruncatedToMicroseconds) {
  AuditEntry entry = NextAuditEntry({}, absl::FromUnixNanos(1'234'567'891), {});
  EXPECT_EQ(entry.time, absl::FromUnixMicros(1'234'567));
}

TEST(AuditChainTest, IntactChainVerifiesAndReportsItsHead) {
  std::vector<AuditEntry> chain = Chain(5);
  AuditChainVerifier verifier;
  for (const AuditEntry& entry : chain) ASSERT_TRUE(verifier.Add(entry).ok());
  EXPECT_EQ(verifier.head().sequence, 5u);
  EXPECT_EQ(verifier.head().hash, chain.back().hash);
}

TEST(AuditChainTest, ModifiedEntryIsReportedAtItsSequence) {
  std::vector<AuditEntry> chain = Chain(5);
  chain[2].event.outcome = "denied";
  absl::Status status = Verify(chain);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("sequence 3"));
}

TEST(AuditChainTest, RehashedEntryBreaksTheNextLink) {
  std::vector<AuditEntry> chain = Chain(5);
  chain[2].event.outcome = "denied";
  chain[2].hash = ComputeAuditHash(chain[2].prev_hash, chain[2]);
  absl::Status status = Verify(chain);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("sequence 4"));
}

TEST(AuditChainTest, RemovedEntryIsReportedAsMissing) {
  std::vector<AuditEntry> chain = Chain(5);
  chain.erase(chain.begin() + 1);
  absl::Status status = Verify(chain);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("sequence 2"));
}

TEST(AuditChainTest, ReorderedEntriesAreDetected) {
  std::vector<AuditEntry> chain = Chain(5);
  std::swap(chain[1], chain[2]);
  EXPECT_EQ(Verify(chain).code(), absl::StatusCode::kDataLoss);
  // Renumbering the swapped entries does not help: the hashes cover the sequence.
  std::swap(chain[1].sequence, chain[2].sequence);
  absl::Status status = Verify(chain);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("sequence 2"));
}

TEST(AuditChainTest, VerifierStaysFailedAfterTheFirstBreak) {
  std::vector<AuditEntry> chain = Chain(3);
  AuditChainVerifier verifier;
  ASSERT_TRUE(verifier.Add(chain[0]).ok());
  ASSERT_FALSE(verifier.Add(chain[2]).ok());
  EXPECT_FALSE(verifier.Add(chain[1]).ok());
  EXPECT_EQ(verifier.head().sequence, 1u);
}

TEST(AuditChainTest, HashFromBytesChecksTheLength) {
  EXPECT_TRUE(AuditHashFromBytes(std::string(32, 'x')).ok());
  EXPECT_EQ(AuditHashFromBytes("short").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloak::kms
