#include "kms/service/session_tokens.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "common/status.h"
#include "kms/crypto/random.h"

namespace cloak::kms {
namespace {

constexpr std::string_view kMagic = "cloak-session-v2";
constexpr std::size_t kSignatureSize = 64;
constexpr std::size_t kMaxIdentity = 256;
constexpr std::size_t kFixedSize = kMagic.size() + kSessionTokenIdSize + kX25519KeySize +
                                   kBindingSize + 1 + 1 + kClaimsDigestSize + 8 + 2;

std::uint8_t TeeCode(EvidenceType tee) {
  switch (tee) {
    case EvidenceType::kTpm:
      return 1;
    case EvidenceType::kSevSnp:
      return 2;
    case EvidenceType::kTdx:
      return 3;
    case EvidenceType::kNone:
      return 4;
  }
  return 0;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

absl::Status Unauthenticated() {
  return absl::UnauthenticatedError(
      "session_token: not a valid session token from this key service; attest again");
}

void PutU64(std::vector<std::uint8_t>& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

std::uint64_t GetU64(const std::uint8_t* p) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | p[i];
  return value;
}

}  // namespace

struct SessionTokens::Keys {
  PkeyPtr private_key;
  PkeyPtr public_key;
};

std::string SessionToken::IdHex() const {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(token_id.data()), token_id.size()));
}

SessionTokens::SessionTokens(std::unique_ptr<Keys> keys, const Clock& clock, absl::Duration ttl)
    : keys_(std::move(keys)), clock_(clock), ttl_(ttl) {}

SessionTokens::~SessionTokens() = default;

absl::StatusOr<std::unique_ptr<SessionTokens>> SessionTokens::Create(
    const SecretBytes& signing_seed, const Clock& clock, absl::Duration ttl) {
  if (signing_seed.size() != kSessionSigningSeedSize) {
    return absl::InvalidArgumentError("session signing key: must be a 32-byte Ed25519 seed");
  }
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("session token TTL: must be positive");
  }
  auto keys = std::make_unique<Keys>();
  keys->private_key.reset(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, signing_seed.SecretData(), signing_seed.size()));
  if (!keys->private_key) return absl::InternalError("session signing key: OpenSSL refused it");
  std::array<std::uint8_t, 32> public_key{};
  std::size_t public_size = public_key.size();
  if (EVP_PKEY_get_raw_public_key(keys->private_key.get(), public_key.data(), &public_size) != 1) {
    return absl::InternalError("session signing key: cannot derive the public key");
  }
  keys->public_key.reset(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_size));
  if (!keys->public_key) return absl::InternalError("session signing key: OpenSSL refused it");
  return std::unique_ptr<SessionTokens>(new SessionTokens(std::move(keys), clock, ttl));
}

absl::StatusOr<std::vector<std::uint8_t>> SessionTokens::Issue(SessionToken token,
                                                               SessionToken* issued) const {
  if (token.identity.empty() || token.identity.size() > kMaxIdentity) {
    return absl::InvalidArgumentError("identity: must be 1..256 bytes");
  }
  RETURN_IF_ERROR(FillPublicRandom(token.token_id));
  // Whole milliseconds: what is encoded is what Verify returns.
  token.expires_at = absl::FromUnixMillis(absl::ToUnixMillis(clock_.Now() + ttl_));

  std::vector<std::uint8_t> out(kMagic.begin(), kMagic.end());
  out.insert(out.end(), token.token_id.begin(), token.token_id.end());
  out.insert(out.end(), token.ephemeral_public_key.begin(), token.ephemeral_public_key.end());
  out.insert(out.end(), token.binding.begin(), token.binding.end());
  out.push_back(token.role == Role::kNode ? 1 : 2);
  out.push_back(TeeCode(token.tee));
  out.insert(out.end(), token.claims_digest.begin(), token.claims_digest.end());
  PutU64(out, static_cast<std::uint64_t>(absl::ToUnixMillis(token.expires_at)));
  out.push_back(static_cast<std::uint8_t>(token.identity.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(token.identity.size()));
  out.insert(out.end(), token.identity.begin(), token.identity.end());

  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t signature_size = kSignatureSize;
  const std::size_t payload_size = out.size();
  out.resize(payload_size + kSignatureSize);
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, keys_->private_key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), out.data() + payload_size, &signature_size, out.data(),
                     payload_size) != 1 ||
      signature_size != kSignatureSize) {
    return absl::InternalError("session token: Ed25519 signing failed");
  }
  if (issued != nullptr) *issued = std::move(token);
  return out;
}

absl::StatusOr<SessionToken> SessionTokens::Verify(std::span<const std::uint8_t> token) const {
  if (token.size() < kFixedSize + kSignatureSize || token.size() > kMaxSessionTokenSize) {
    return Unauthenticated();
  }
  std::array<std::uint8_t, 32> digest{};
  SHA256(token.data(), token.size(), digest.data());
  const absl::Time now = clock_.Now();
  {
    std::lock_guard lock(cache_mutex_);
    auto found = verified_.find(digest);
    if (found != verified_.end()) {
      if (now >= found->second.expires_at) {
        verified_.erase(found);
        return absl::UnauthenticatedError("session_token: expired; attest again");
      }
      return found->second;
    }
  }
  ASSIGN_OR_RETURN(SessionToken parsed, VerifySignedToken(token));
  std::lock_guard lock(cache_mutex_);
  ++signature_checks_;
  if (verified_.size() >= kVerifiedCacheSize) {
    std::erase_if(verified_, [now](const auto& entry) { return now >= entry.second.expires_at; });
    if (verified_.size() >= kVerifiedCacheSize) verified_.clear();
  }
  verified_.emplace(digest, parsed);
  return parsed;
}

std::uint64_t SessionTokens::signature_checks() const {
  std::lock_guard lock(cache_mutex_);
  return signature_checks_;
}

absl::StatusOr<SessionToken> SessionTokens::VerifySignedToken(
    std::span<const std::uint8_t> token) const {
  const std::size_t payload_size = token.size() - kSignatureSize;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, keys_->public_key.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), token.data() + payload_size, kSignatureSize, token.data(),
                       payload_size) != 1) {
    return Unauthenticated();
  }
  const std::uint8_t* p = token.data();
  if (std::memcmp(p, kMagic.data(), kMagic.size()) != 0) return Unauthenticated();
  p += kMagic.size();
  SessionToken parsed;
  std::memcpy(parsed.token_id.data(), p, kSessionTokenIdSize);
  p += kSessionTokenIdSize;
  std::memcpy(parsed.ephemeral_public_key.data(), p, kX25519KeySize);
  p += kX25519KeySize;
  std::memcpy(parsed.binding.data(), p, kBindingSize);
  p += kBindingSize;
  if (*p != 1 && *p != 2) return Unauthenticated();
  parsed.role = *p == 1 ? Role::kNode : Role::kController;
  p += 1;
  switch (*p) {
    case 1:
      parsed.tee = EvidenceType::kTpm;
      break;
    case 2:
      parsed.tee = EvidenceType::kSevSnp;
      break;
    case 3:
      parsed.tee = EvidenceType::kTdx;
      break;
    case 4:
      parsed.tee = EvidenceType::kNone;
      break;
    default:
      return Unauthenticated();
  }
  p += 1;
  std::memcpy(parsed.claims_digest.data(), p, kClaimsDigestSize);
  p += kClaimsDigestSize;
  parsed.expires_at = absl::FromUnixMillis(static_cast<std::int64_t>(GetU64(p)));
  p += 8;
  const std::size_t identity_size = (std::size_t{p[0]} << 8) | p[1];
  p += 2;
  if (kFixedSize + identity_size != payload_size) return Unauthenticated();
  parsed.identity.assign(reinterpret_cast<const char*>(p), identity_size);
  if (clock_.Now() >= parsed.expires_at) {
    return absl::UnauthenticatedError("session_token: expired; attest again");
  }
  return parsed;
}

}  // namespace cloak::kms
