#pragma once

// EvidenceVerifier: checks attestation evidence from a confidential VM and says who it
// is (DESIGN §6). The real TPM 2.0 and SEV-SNP verifiers live in attest/; this file
// holds the interface, the binding every verifier checks, and the development-only
// NoneVerifier.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
};

class EvidenceVerifier {
 public:
  virtual ~EvidenceVerifier() = default;

  // Verifies `evidence` of `type` and that it binds `expected_binding` (full length,
  // constant time). Thread-safe. UNAUTHENTICATED when the evidence is malformed, not
  // authentic or binds something else; PERMISSION_DENIED when this verifier does not
  // accept `type` or the evidence is authentic but not acceptable (debug TEE, old TCB).
  virtual absl::StatusOr<Claims> Verify(EvidenceType type, std::span<const std::uint8_t> evidence,
                                        const AttestationBinding& expected_binding) = 0;
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
                                const AttestationBinding& expected_binding) override;

  // The evidence a development client sends for `identity`.
  static std::vector<std::uint8_t> MakeEvidence(const AttestationBinding& binding,
                                                std::string_view identity);

 private:
  const bool insecure_allow_unattested_;
};

}  // namespace cloak::kms
