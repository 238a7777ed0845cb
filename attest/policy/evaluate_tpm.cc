// EvaluateTpm: the tpm section (attestation key, PCRs), then the rules.

#include "attest/policy/evaluate.h"
#include "attest/policy/evaluate_internal.h"
#include "attest/policy/parse_values.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::policy {
namespace {

using internal::Contains;
using internal::Denied;
using internal::ToHex;

absl::Status CheckAk(const TpmSection& section, const Sha256& fingerprint,
                     const TpmClaims& claims) {
  if (Contains(section.trusted_aks, fingerprint)) return absl::OkStatus();
  if (section.allow_ek_ca && claims.ak_trust == "ek-ca") return absl::OkStatus();
  return Denied(
      "tpm.trusted_aks",
      fmt::format("attestation key {} (trusted by {}) is not pinned by the policy{}",
                  ToHex(fingerprint), claims.ak_trust == "ek-ca" ? "the EK CA" : "pinning",
                  section.allow_ek_ca ? "" : ", and tpm.allow_ek_ca is false"));
}

absl::Status CheckPcrs(const TpmSection& section, const TpmClaims& claims,
                       const EvaluationOptions& options) {
  if (section.pcrs.empty() && options.require_allow_list) {
    return Denied("tpm.pcrs", "the policy lists no PCR value, so no TPM guest is accepted");
  }
  for (const auto& [index, values] : section.pcrs) {
    const std::string path = fmt::format("tpm.pcrs.{}", index);
    auto it = claims.pcrs.find(index);
    if (it == claims.pcrs.end()) {
      return Denied(path, fmt::format("the quote does not cover PCR {}", index));
    }
    if (!internal::PcrsMatch({{index, values}}, claims.pcrs)) {
      return Denied(path, fmt::format("PCR {} is {}, which is not an allowed value", index,
                                      ToHex(it->second.data(), it->second.size())));
    }
  }
  return absl::OkStatus();
}

bool RuleMatches(const RuleMatch& m, const Sha256& fingerprint, const TpmClaims& claims) {
  if (!internal::RuleCoversTee(m, Tee::kTpm)) return false;
  if (!m.measurements.empty() || !m.chip_ids.empty() || !m.host_data.empty()) return false;
  if (!m.pcrs.empty() && !internal::PcrsMatch(m.pcrs, claims.pcrs)) return false;
  if (!m.ak_fingerprints.empty() && !Contains(m.ak_fingerprints, fingerprint)) return false;
  return true;
}

}  // namespace

absl::StatusOr<PolicyDecision> EvaluateTpm(const AttestationPolicy& policy, const TpmClaims& claims,
                                           const EvaluationOptions& options) {
  if (!policy.tpm) {
    return Denied("tpm", "the policy has no tpm section, so TPM guests are refused");
  }
  Sha256 fingerprint;
  if (!internal::DecodeHex(claims.ak_fingerprint, fingerprint.data(), fingerprint.size())) {
    return Denied("tpm.trusted_aks", "the verified quote carries no valid AK fingerprint");
  }
  RETURN_IF_ERROR(CheckAk(*policy.tpm, fingerprint, claims));
  RETURN_IF_ERROR(CheckPcrs(*policy.tpm, claims, options));
  for (const Rule& rule : policy.rules) {
    if (RuleMatches(rule.match, fingerprint, claims)) {
      return internal::Decide(Tee::kTpm, rule, fingerprint.data(), fingerprint.size());
    }
  }
  return Denied("rules", fmt::format("no rule matches this tpm guest (attestation key {})",
                                     ToHex(fingerprint)));
}

}  // namespace cloak::attest::policy
