#pragma once

// AkEnroller: TPM attestation key enrollment by credential activation, as KeyService's
// BeginAkEnrollment and CompleteAkEnrollment need it (docs/attest-tpm.md). A TPM quote
// proves which key signed it, not that the key lives in a genuine TPM; an AK is trusted
// either because the policy pins it or because it proved, once, to share a TPM with an
// endorsement key whose certificate chains to a configured EK CA. That proof is the
// credential: a secret encrypted to the EK that the TPM releases only for an object with
// the AK's Name. The implementation (attest/verifier/ak_enrollment.h) links the TPM code;
// the key service sees only this interface.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cloak::kms {

inline constexpr std::size_t kEnrollmentIdSize = 16;
using EnrollmentId = std::array<std::uint8_t, kEnrollmentIdSize>;

struct AkEnrollmentRequest {
  std::span<const std::uint8_t> ak_public;       // marshalled TPMT_PUBLIC
  std::span<const std::uint8_t> ek_public;       // marshalled TPMT_PUBLIC
  std::span<const std::uint8_t> ek_certificate;  // DER
};

// A pending enrollment: the credential for the guest to activate. Not secret: only the
// TPM holding the EK can open it.
struct AkEnrollmentOffer {
  EnrollmentId id{};
  std::vector<std::uint8_t> credential_blob;
  std::vector<std::uint8_t> encrypted_secret;
  absl::Time expires_at;
  std::string ak_fingerprint;  // hex SHA-256 of the AK's TPMT_PUBLIC
};

struct AkEnrollmentResult {
  std::string ak_fingerprint;
  std::string ek_fingerprint;  // hex SHA-256 of the EK's TPMT_PUBLIC
  std::string ek_subject;      // RFC 2253
  bool newly_bound = false;    // false: the same binding was already recorded
};

class AkEnroller {
 public:
  virtual ~AkEnroller() = default;

  // Checks the AK's attributes and the EK certificate, and makes a credential for the
  // pair, valid once until `expires_at` on this replica. Thread-safe.
  // INVALID_ARGUMENT naming the field for a malformed or unsuitable key;
  // PERMISSION_DENIED when the EK certificate does not chain to a configured EK CA or
  // does not certify that EK; FAILED_PRECONDITION when the policy in force does not allow
  // EK-certified AKs; RESOURCE_EXHAUSTED when too many enrollments are pending.
  virtual absl::StatusOr<AkEnrollmentOffer> Begin(const AkEnrollmentRequest& request) = 0;

  // Ends enrollment `id` (whatever the verdict: it cannot be answered twice) and, when
  // `secret` equals the credential's secret (compared in constant time), records the AK
  // as bound to the EK, versioned and audited in the key store. Thread-safe.
  // NOT_FOUND when `id` is unknown, already answered or expired; PERMISSION_DENIED when
  // the secret does not match; UNAVAILABLE / ABORTED from the store.
  virtual absl::StatusOr<AkEnrollmentResult> Complete(const EnrollmentId& id,
                                                      std::span<const std::uint8_t> secret) = 0;
};

}  // namespace cloak::kms
