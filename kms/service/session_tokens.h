#pragma once

// SessionTokens: the short-lived signed token Attest issues (DESIGN §6 step 3). It binds
// the attested identity and role to the node's ephemeral X25519 key and to the
// attestation binding; any replica holding the same Ed25519 signing key verifies it
// without shared state.
//
// Canonical encoding (integers big-endian), signed with Ed25519 (RFC 8032, OpenSSL EVP):
//   "cloak-session-v2" (16 bytes) ‖ token id (16) ‖ ephemeral public key (32) ‖
//   binding (64) ‖ u8 role (1 node, 2 controller) ‖ u8 TEE (1 tpm, 2 sev-snp, 3 tdx,
//   4 none) ‖ claims digest (32, ClaimsDigest of the verified claims) ‖ i64 expiry in Unix
//   milliseconds ‖ u16 len(identity) ‖ identity ‖ signature (64) over everything before it.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret_bytes.h"
#include "kms/crypto/dhkem_x25519.h"
#include "kms/service/authorizer.h"
#include "kms/service/evidence_verifier.h"
#include "kms/store/clock.h"

namespace cloak::kms {

inline constexpr std::size_t kSessionTokenIdSize = 16;
inline constexpr std::size_t kSessionSigningSeedSize = 32;
inline constexpr std::size_t kMaxSessionTokenSize = 512;
inline constexpr std::size_t kClaimsDigestSize = 32;

struct SessionToken {
  std::array<std::uint8_t, kSessionTokenIdSize> token_id{};
  X25519PublicKey ephemeral_public_key{};
  AttestationBinding binding{};
  Role role = Role::kNode;
  EvidenceType tee = EvidenceType::kNone;
  // ClaimsDigest (evidence_verifier.h) of what the attestation established: the token
  // commits to exactly the claims the Attest audit entry records.
  std::array<std::uint8_t, kClaimsDigestSize> claims_digest{};
  absl::Time expires_at;
  std::string identity;

  // Lower-case hex of token_id, for logs and the audit.
  std::string IdHex() const;
};

class SessionTokens {
 public:
  static constexpr absl::Duration kDefaultTtl = absl::Minutes(5);

  // `signing_seed` is the 32-byte Ed25519 private key shared by every replica; `clock`
  // must outlive the object. INVALID_ARGUMENT for a seed of another size or a TTL that
  // is not positive; INTERNAL when OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<SessionTokens>> Create(const SecretBytes& signing_seed,
                                                               const Clock& clock,
                                                               absl::Duration ttl = kDefaultTtl);
  ~SessionTokens();

  // Signs a token for `token` (its id and expiry are filled in and returned through
  // *issued). Thread-safe. INVALID_ARGUMENT for an empty or overlong identity;
  // INTERNAL when OpenSSL fails.
  absl::StatusOr<std::vector<std::uint8_t>> Issue(SessionToken token, SessionToken* issued) const;

  // Checks the signature, the encoding and the expiry. Thread-safe. UNAUTHENTICATED for
  // anything but a well-formed, correctly signed, unexpired token.
  //
  // A node presents the same token for every volume key of its session, so a token whose
  // signature verified is remembered (by its SHA-256, up to kVerifiedCacheSize tokens)
  // and later presentations skip the Ed25519 verification; the expiry is checked on
  // every call.
  absl::StatusOr<SessionToken> Verify(std::span<const std::uint8_t> token) const;

  static constexpr std::size_t kVerifiedCacheSize = 16384;
  // Signature verifications performed so far (cache misses); for tests.
  std::uint64_t signature_checks() const;

  absl::Duration ttl() const { return ttl_; }

 private:
  struct Keys;
  SessionTokens(std::unique_ptr<Keys> keys, const Clock& clock, absl::Duration ttl);

  absl::StatusOr<SessionToken> VerifySignedToken(std::span<const std::uint8_t> token) const;

  std::unique_ptr<Keys> keys_;
  const Clock& clock_;
  const absl::Duration ttl_;
  mutable std::mutex cache_mutex_;
  mutable std::map<std::array<std::uint8_t, 32>, SessionToken> verified_;  // by SHA-256
  mutable std::uint64_t signature_checks_ = 0;
};

}  // namespace cloak::kms
