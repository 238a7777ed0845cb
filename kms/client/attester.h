#pragma once

// Attester: the evidence a node or controller plugin shows the key service (DESIGN §6).
// KeyServiceClient calls it once per attestation with the challenge of that attempt.
// Implementations: NoneAttester (development only, here), TpmAttester and SnpAttester
// (kms/client/attesters/, separate targets: only they link the TSS or the SNP
// collectors).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kms/proto/kms.pb.h"
#include "kms/service/evidence_verifier.h"

namespace cloak::kms::client {

// The key service's attestation key enrollment calls (kms.proto), as Attester::Enroll
// uses them; GrpcKeyServiceClient provides them over its channel.
class EnrollmentChannel {
 public:
  virtual ~EnrollmentChannel() = default;
  virtual absl::StatusOr<v1::BeginAkEnrollmentResponse> BeginAkEnrollment(
      const v1::BeginAkEnrollmentRequest& request) = 0;
  virtual absl::StatusOr<v1::CompleteAkEnrollmentResponse> CompleteAkEnrollment(
      const v1::CompleteAkEnrollmentRequest& request) = 0;
};

class Attester {
 public:
  virtual ~Attester() = default;

  // Proves to the key service, once, before the first attestation, what the evidence
  // alone cannot: for a TPM, that its AK shares the TPM with a certified EK (credential
  // activation). Not thread-safe (called under the same lock as Collect). The default has
  // nothing to prove. Codes: the service's (FAILED_PRECONDITION when it does not enroll
  // AKs, PERMISSION_DENIED when it refuses the EK certificate) or the TEE's.
  virtual absl::Status Enroll(EnrollmentChannel& /*channel*/) { return absl::OkStatus(); }

  // The evidence type Collect produces (AttestRequest.evidence_type). Thread-safe.
  virtual EvidenceType type() const = 0;

  // Evidence bound to `challenge` (AttestRequest.evidence): TPM quotes carry
  // challenge.tpm_extra_data, SEV-SNP and TDX reports challenge.binding. The bytes are
  // secret to the caller's logs (never printed). Not thread-safe: KeyServiceClient runs
  // one attestation at a time. INVALID_ARGUMENT for a malformed challenge; otherwise the
  // collector's codes (UNAVAILABLE when the TEE interface does not answer).
  virtual absl::StatusOr<std::string> Collect(const AttestationChallenge& challenge) = 0;
};

// Development only: EVIDENCE_TYPE_NONE for `identity` ("node/NAME", "controller/NAME"),
// accepted only by a key service started with --insecure-allow-unattested. Proves
// nothing about the machine.
class NoneAttester final : public Attester {
 public:
  explicit NoneAttester(std::string identity) : identity_(std::move(identity)) {}

  EvidenceType type() const override { return EvidenceType::kNone; }
  // The binding followed by the identity (NoneVerifier::MakeEvidence). INVALID_ARGUMENT
  // for an identity of 0 or more than 128 bytes.
  absl::StatusOr<std::string> Collect(const AttestationChallenge& challenge) override;

 private:
  const std::string identity_;
};

}  // namespace cloak::kms::client
