#include "kms/service/evidence_verifier.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace cloak::kms {
namespace {

constexpr std::string_view kBindingLabel = "cloak-attest-v1";
constexpr std::size_t kMaxNoneIdentity = 128;

}  // namespace

std::string_view EvidenceTypeName(EvidenceType type) {
  switch (type) {
    case EvidenceType::kTpm:
      return "tpm";
    case EvidenceType::kSevSnp:
      return "sev-snp";
    case EvidenceType::kTdx:
      return "tdx";
    case EvidenceType::kNone:
      return "none";
  }
  return "unknown";
}

AttestationBinding ComputeBinding(std::span<const std::uint8_t> nonce,
                                  std::span<const std::uint8_t> ephemeral_public_key) {
  std::vector<std::uint8_t> input(kBindingLabel.begin(), kBindingLabel.end());
  input.insert(input.end(), nonce.begin(), nonce.end());
  input.insert(input.end(), ephemeral_public_key.begin(), ephemeral_public_key.end());
  AttestationBinding binding{};
  SHA512(input.data(), input.size(), binding.data());
  return binding;
}

std::array<std::uint8_t, 32> ComputeTpmExtraData(
    std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> ephemeral_public_key) {
  std::vector<std::uint8_t> input(kBindingLabel.begin(), kBindingLabel.end());
  input.insert(input.end(), nonce.begin(), nonce.end());
  input.insert(input.end(), ephemeral_public_key.begin(), ephemeral_public_key.end());
  std::array<std::uint8_t, 32> digest{};
  SHA256(input.data(), input.size(), digest.data());
  return digest;
}

AttestationChallenge AttestationChallenge::For(std::span<const std::uint8_t> nonce,
                                               std::span<const std::uint8_t> ephemeral_public_key) {
  AttestationChallenge challenge;
  challenge.nonce.assign(nonce.begin(), nonce.end());
  challenge.ephemeral_public_key.assign(ephemeral_public_key.begin(), ephemeral_public_key.end());
  challenge.binding = ComputeBinding(nonce, ephemeral_public_key);
  challenge.tpm_extra_data = ComputeTpmExtraData(nonce, ephemeral_public_key);
  return challenge;
}

std::array<std::uint8_t, 32> ClaimsDigest(const Claims& claims) {
  std::vector<std::uint8_t> encoded;
  auto put = [&encoded](std::string_view text) {
    const std::uint32_t size = static_cast<std::uint32_t>(text.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      encoded.push_back(static_cast<std::uint8_t>(size >> shift));
    }
    encoded.insert(encoded.end(), text.begin(), text.end());
  };
  put("cloak-claims-v1");
  put(EvidenceTypeName(claims.tee_type));
  put(claims.identity);
  for (const auto& [key, value] : claims.audit_details) {  // std::map: in key order
    put(key);
    put(value);
  }
  std::array<std::uint8_t, 32> digest{};
  SHA256(encoded.data(), encoded.size(), digest.data());
  return digest;
}

bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<Claims> NoneVerifier::Verify(EvidenceType type,
                                            std::span<const std::uint8_t> evidence,
                                            const AttestationChallenge& challenge) {
  if (!insecure_allow_unattested_) {
    return absl::PermissionDeniedError(
        "evidence type none is refused: the key service was not started with "
        "--insecure-allow-unattested (development only)");
  }
  if (type != EvidenceType::kNone) {
    return absl::PermissionDeniedError(
        fmt::format("no verifier for evidence type {} is configured on this key service",
                    EvidenceTypeName(type)));
  }
  if (evidence.size() <= kBindingSize || evidence.size() > kBindingSize + kMaxNoneIdentity) {
    return absl::UnauthenticatedError(
        "evidence: none evidence must be the 64-byte binding followed by 1..128 identity bytes");
  }
  if (!ConstantTimeEquals(evidence.first(kBindingSize), challenge.binding)) {
    return absl::UnauthenticatedError(
        "evidence: the binding does not match SHA-512(\"cloak-attest-v1\" || nonce || "
        "ephemeral_public_key)");
  }
  Claims claims;
  claims.tee_type = EvidenceType::kNone;
  for (std::uint8_t c : evidence.subspan(kBindingSize)) {
    if (c < 0x21 || c > 0x7e) {
      return absl::UnauthenticatedError("evidence: the identity must be printable ASCII");
    }
    claims.identity.push_back(static_cast<char>(c));
  }
  return claims;
}

std::vector<std::uint8_t> NoneVerifier::MakeEvidence(const AttestationBinding& binding,
                                                     std::string_view identity) {
  std::vector<std::uint8_t> evidence(binding.begin(), binding.end());
  evidence.insert(evidence.end(), identity.begin(), identity.end());
  return evidence;
}

}  // namespace cloak::kms
