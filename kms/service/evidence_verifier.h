#pragma once

// EvidenceVerifier: checks attestation evidence from a confidential VM and says who it
// is (DESIGN §6). The real TPM 2.0 and SEV-SNP verifiers live in attest/; this file
// holds the interface, the binding every verifier checks, and the development-only
// NoneVerifier.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::kms {

enum class EvidenceType { kTpm, kSevSnp, kTdx, kNone };

// "tpm", "sev-snp", "tdx", "none".
std::string_view EvidenceTypeName(EvidenceType type);

inline constexpr std::size_t kNonceSize = 32;
inline constexpr std::size_t kBindingSize = 64;
using AttestationBinding = std::array<std::uint8_t, kBindingSize>;

// SHA-512("cloak-attest-v1" ‖ nonce ‖ ephemeral_public_key): the report data of SNP and
// TDX evidence (a TPM quote carries SHA-256 of the same input). Thread-safe.
AttestationBinding ComputeBinding(std::span<const std::uint8_t> nonce,
                                  std::span<const std::uint8_t> ephemeral_public_key);

// SHA-256 of the same input as the binding: what a TPM quote carries as extraData
// (qualifyingData), since TPM2_Quote takes at most a digest-sized value. Thread-safe.
std::array<std::uint8_t, 32> ComputeTpmExtraData(
    std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> ephemeral_public_key);

// What evidence must bind to be fresh and tied to the caller's ephemeral key: the Attest
// request's nonce and key, and both digests of them.
struct AttestationChallenge {
  std::vector<std::uint8_t> nonce;                 // 32 bytes, from Challenge
  std::vector<std::uint8_t> ephemeral_public_key;  // X25519, 32 bytes
  AttestationBinding binding{};                    // SNP and TDX report data
  std::array<std::uint8_t, 32> tpm_extra_data{};   // TPM quote extraData

  static AttestationChallenge For(std::span<const std::uint8_t> nonce,
                                  std::span<const std::uint8_t> ephemeral_public_key);
};

// Full-length constant-time comparison; false when the sizes differ. Thread-safe.
bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// What verified evidence says about the guest. Never raw evidence.
struct Claims {
  EvidenceType tee_type = EvidenceType::kNone;
  std::vector<std::uint8_t> measurement;  // launch measurement or PCR digest
  std::string tcb;                        // reported TCB version, verifier-specific text
  std::string chip_id;                    // hex; empty when the TEE has none
  std::string ak_fingerprint;             // hex SHA-256 of the attestation key; TPM only
  std::string identity;                   // e.g. "node/worker-1", "controller/cloak"
  // What the audit entry of the attestation records besides the TEE type (hex digests,
  // TCB, the policy rule and version that admitted the guest). Never raw evidence.
  std::map<std::string, std::string> audit_details;
  // OK when the policy admits the guest. Authentic evidence that the policy refuses comes
  // back as claims with this set (PERMISSION_DENIED naming the check), so that the audit
  // entry of the refusal still says which guest it was (identity and audit_details).
  absl::Status admission;
};

// SHA-256 over a canonical encoding of `claims` — "cloak-claims-v1", then length-prefixed
// (u32 big-endian) TEE name, identity, and every audit detail as key, value in key order —
// which the session token carries and the Attest audit entry records in hex. Thread-safe.
std::array<std::uint8_t, 32> ClaimsDigest(const Claims& claims);

class EvidenceVerifier {
 public:
  virtual ~EvidenceVerifier() = default;

  // Verifies `evidence` of `type` and that it binds `challenge` (full length, constant
  // time). Thread-safe. UNAUTHENTICATED when the evidence is malformed, not authentic or
  // binds something else; PERMISSION_DENIED when this verifier does not accept `type`.
  // Authentic evidence that is not acceptable (debug TEE, old TCB, outside the policy)
  // returns claims whose `admission` is PERMISSION_DENIED.
  virtual absl::StatusOr<Claims> Verify(EvidenceType type, std::span<const std::uint8_t> evidence,
                                        const AttestationChallenge& challenge) = 0;
};

// Development only: accepts EVIDENCE_TYPE_NONE, whose evidence is the 64-byte binding
// followed by the identity the caller claims (1..128 printable ASCII bytes). It proves
// nothing about the guest, so it refuses everything (PERMISSION_DENIED) unless the
// service was started with the explicit insecure flag.
class NoneVerifier final : public EvidenceVerifier {
 public:
  explicit NoneVerifier(bool insecure_allow_unattested)
      : insecure_allow_unattested_(insecure_allow_unattested) {}

  absl::StatusOr<Claims> Verify(EvidenceType type, std::span<const std::uint8_t> evidence,
                                const AttestationChallenge& challenge) override;

  // The evidence a development client sends for `identity`.
  static std::vector<std::uint8_t> MakeEvidence(const AttestationBinding& binding,
                                                std::string_view identity);

 private:
  const bool insecure_allow_unattested_;
};

}  // namespace cloak::kms
