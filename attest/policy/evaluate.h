#pragma once

// Judging verified claims against the attestation policy (docs/attestation-policy.md):
// first the TEE section (debug, VMPL, TCB, measurements, PCRs, attestation keys), then
// the rules in order; the first rule that matches gives the guest its role and its
// volume selector. Then, per call, which volumes that role may touch. All functions are
// pure and thread-safe.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "attest/claims.h"
#include "attest/policy/policy.h"

namespace cloak::attest::policy {

struct EvaluationOptions {
  // The key service sets this: a section must list launch measurements (sev-snp) or PCR
  // values (tpm); a policy without them refuses every guest of that kind. Offline checks
  // built from DefaultOfflinePolicy() clear it.
  bool require_allow_list = true;
  // Development only: accept `none` (unattested) guests when the policy has a none
  // section. Never set in production.
  bool allow_insecure_none = false;
};

struct PolicyDecision {
  Tee tee = Tee::kSevSnp;
  std::string rule;  // the name of the rule that matched
  Role role = Role::kNode;
  // "<role>/<rule>@<16 hex>": the first 8 bytes of the chip id (sev-snp), of the AK
  // fingerprint (tpm), or of SHA-256 of the claimed name (none).
  std::string identity;
  std::map<std::string, std::string> volume_labels;  // the rule's selector; empty: any volume
};

// Judges a verified SEV-SNP report. PERMISSION_DENIED naming the first failed check
// (`sev-snp.min_tcb.snp: reported 3 < 5`, `rules: no rule matches ...`).
absl::StatusOr<PolicyDecision> EvaluateSnp(const AttestationPolicy& policy, const SnpClaims& claims,
                                           const EvaluationOptions& options = {});

// Judges a verified TPM quote. PERMISSION_DENIED naming the first failed check
// (`tpm.pcrs.7: ...`, `tpm.trusted_aks: ...`).
absl::StatusOr<PolicyDecision> EvaluateTpm(const AttestationPolicy& policy, const TpmClaims& claims,
                                           const EvaluationOptions& options = {});

// Judges an unattested development guest that claims `claimed_name`. PERMISSION_DENIED
// unless options.allow_insecure_none, the policy has a none section and a rule lists
// `tee: [none]` explicitly.
absl::StatusOr<PolicyDecision> EvaluateNone(const AttestationPolicy& policy,
                                            std::string_view claimed_name,
                                            const EvaluationOptions& options = {});

// OK when an identity that `rule` gave `role` may perform `operation` on a volume with
// `volume_labels`. Controllers may create, destroy and clone keys but never receive them
// (GetVolumeKey, ReportVolumeState are node-only), whatever the document says. For a
// clone, call it for the source and for the new volume. PERMISSION_DENIED otherwise, also
// when the current policy no longer has `rule` or gives it another role.
absl::Status AllowVolumeOperation(const AttestationPolicy& policy, std::string_view rule, Role role,
                                  Operation operation,
                                  const std::map<std::string, std::string>& volume_labels);

struct ParsedIdentity {
  Role role = Role::kNode;
  std::string rule;
  std::string suffix;  // the 16 hex digits after '@'
};

// Splits a PolicyDecision::identity back into role, rule and suffix (for the key service,
// which keeps only the identity in a session token). INVALID_ARGUMENT when malformed.
absl::StatusOr<ParsedIdentity> ParsePolicyIdentity(std::string_view identity);

}  // namespace cloak::attest::policy
