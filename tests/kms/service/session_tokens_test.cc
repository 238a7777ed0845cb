#include "kms/service/session_tokens.h"

#include <gtest/gtest.h>

#include "kms/crypto/random.h"
#include "kms/service/nonce_table.h"
#include "kms/store/testing/fake_clock.h"

namespace cloak::kms {
namespace {

SessionToken Sample() {
  SessionToken token;
  token.ephemeral_public_key.fill(7);
  token.binding.fill(9);
  token.role = Role::kController;
  token.identity = "controller/cloak";
  token.tee = EvidenceType::kSevSnp;
  token.claims_digest.fill(0x42);
  return token;
}

TEST(SessionTokensTest, ReplicaWithTheSameKeyVerifies) {
  FakeClock clock;
  SecretBytes seed = RandomSecret(32).value();
  auto a = SessionTokens::Create(seed, clock).value();
  auto b = SessionTokens::Create(seed, clock).value();
  SessionToken issued;
  std::vector<std::uint8_t> token = a->Issue(Sample(), &issued).value();
  absl::StatusOr<SessionToken> parsed = b->Verify(token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->identity, "controller/cloak");
  EXPECT_EQ(parsed->role, Role::kController);
  EXPECT_EQ(parsed->token_id, issued.token_id);
  EXPECT_EQ(parsed->binding, issued.binding);
  EXPECT_EQ(parsed->expires_at, issued.expires_at);
  EXPECT_EQ(parsed->tee, EvidenceType::kSevSnp);
  EXPECT_EQ(parsed->claims_digest, issued.claims_digest);
  EXPECT_EQ(parsed->claims_digest[31], 0x42);
}

TEST(ClaimsDigestTest, CoversTheTeeTheIdentityAndEveryDetail) {
  Claims claims;
  claims.tee_type = EvidenceType::kTpm;
  claims.identity = "node/workers@0011223344556677";
  claims.audit_details = {{"ak_fingerprint", "ab"}, {"rule", "workers"}};
  const auto digest = ClaimsDigest(claims);
  EXPECT_EQ(ClaimsDigest(claims), digest);  // deterministic
  Claims other = claims;
  other.tee_type = EvidenceType::kSevSnp;
  EXPECT_NE(ClaimsDigest(other), digest);
  other = claims;
  other.identity += "x";
  EXPECT_NE(ClaimsDigest(other), digest);
  other = claims;
  other.audit_details["rule"] = "workers2";
  EXPECT_NE(ClaimsDigest(other), digest);
  // Length prefixes: moving a byte from a key into its value changes the digest.
  other = claims;
  other.audit_details = {{"ak_fingerprin", "tab"}, {"rule", "workers"}};
  EXPECT_NE(ClaimsDigest(other), digest);
}

TEST(SessionTokensTest, ForeignKeyTamperingAndExpiryAreUnauthenticated) {
  FakeClock clock;
  auto a = SessionTokens::Create(RandomSecret(32).value(), clock).value();
  auto other = SessionTokens::Create(RandomSecret(32).value(), clock).value();
  std::vector<std::uint8_t> token = a->Issue(Sample(), nullptr).value();
  EXPECT_EQ(other->Verify(token).status().code(), absl::StatusCode::kUnauthenticated);
  for (std::size_t i = 0; i < token.size(); i += 7) {
    std::vector<std::uint8_t> bad = token;
    bad[i] ^= 0x01;
    EXPECT_EQ(a->Verify(bad).status().code(), absl::StatusCode::kUnauthenticated) << i;
  }
  token.pop_back();
  EXPECT_EQ(a->Verify(token).status().code(), absl::StatusCode::kUnauthenticated);
  std::vector<std::uint8_t> fresh = a->Issue(Sample(), nullptr).value();
  clock.Advance(SessionTokens::kDefaultTtl);
  EXPECT_EQ(a->Verify(fresh).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SessionTokensTest, RepeatedTokensSkipTheSignatureButNeverTheExpiryOrTheBytes) {
  FakeClock clock;
  auto tokens = SessionTokens::Create(RandomSecret(32).value(), clock).value();
  std::vector<std::uint8_t> token = tokens->Issue(Sample(), nullptr).value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(tokens->Verify(token).ok());
  EXPECT_EQ(tokens->signature_checks(), 1u);
  // A tampered copy of a remembered token is a different token: verified in full, refused.
  std::vector<std::uint8_t> tampered = token;
  tampered[20] ^= 0x80;
  EXPECT_EQ(tokens->Verify(tampered).status().code(), absl::StatusCode::kUnauthenticated);
  // Remembered or not, an expired token is refused.
  clock.Advance(SessionTokens::kDefaultTtl);
  EXPECT_EQ(tokens->Verify(token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens->Verify(token).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SessionTokensTest, TheVerifiedCacheStaysBounded) {
  FakeClock clock;
  auto tokens = SessionTokens::Create(RandomSecret(32).value(), clock).value();
  std::vector<std::uint8_t> first = tokens->Issue(Sample(), nullptr).value();
  ASSERT_TRUE(tokens->Verify(first).ok());
  for (std::size_t i = 0; i < SessionTokens::kVerifiedCacheSize; ++i) {
    ASSERT_TRUE(tokens->Verify(tokens->Issue(Sample(), nullptr).value()).ok());
  }
  const std::uint64_t checks = tokens->signature_checks();
  ASSERT_TRUE(tokens->Verify(first).ok());  // evicted with the rest: verified again
  EXPECT_EQ(tokens->signature_checks(), checks + 1);
}

TEST(SessionTokensTest, CreateChecksItsInputs) {
  FakeClock clock;
  EXPECT_EQ(SessionTokens::Create(RandomSecret(16).value(), clock).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      SessionTokens::Create(RandomSecret(32).value(), clock, absl::ZeroDuration()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(NonceTableTest, SingleUseExpiryAndCapacity) {
  FakeClock clock;
  NonceTable table(clock, absl::Seconds(60), 3);
  IssuedNonce a = table.Issue().value();
  EXPECT_TRUE(table.Consume(a.nonce).ok());
  EXPECT_EQ(table.Consume(a.nonce).code(), absl::StatusCode::kUnauthenticated);
  IssuedNonce b = table.Issue().value();
  ASSERT_TRUE(table.Issue().ok());
  ASSERT_TRUE(table.Issue().ok());
  EXPECT_EQ(table.Issue().status().code(), absl::StatusCode::kResourceExhausted);
  clock.Advance(absl::Seconds(60));
  EXPECT_EQ(table.Consume(b.nonce).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(table.Issue().ok());  // expired entries were purged
  EXPECT_EQ(table.size(), 1u);
  Nonce unknown{};
  EXPECT_EQ(table.Consume(unknown).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace cloak::kms
