#include "attest/policy/defaults.h"

namespace cloak::attest::policy {

AttestationPolicy PolicyDefault() { return DefaultOfflinePolicy({}, false); }

AttestationPolicy DefaultOfflinePolicy(const std::vector<Sha384>& measurements, bool allow_debug) {
  AttestationPolicy policy;
  SnpSection snp;
  snp.allow_debug = allow_debug;
  snp.measurements = measurements;
  policy.sev_snp = std::move(snp);
  TpmSection tpm;
  tpm.allow_ek_ca = true;
  policy.tpm = std::move(tpm);
  Rule rule;
  rule.name = "default";
  rule.role = Role::kNode;
  policy.rules.push_back(std::move(rule));
  return policy;
}

}  // namespace cloak::attest::policy
