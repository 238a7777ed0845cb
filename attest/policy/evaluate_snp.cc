// EvaluateSnp: the sev-snp section, then the rules.

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

absl::Status CheckMinTcb(const SnpMinTcb& min, const SnpClaims& claims) {
  const SnpTcb& reported = claims.reported_tcb;
  struct Component {
    std::string_view name;
    std::uint8_t reported, minimum;
  };
  const Component components[] = {{"bootloader", reported.bootloader, min.bootloader},
                                  {"tee", reported.tee, min.tee},
                                  {"snp", reported.snp, min.snp},
                                  {"microcode", reported.microcode, min.microcode},
                                  {"fmc", reported.fmc, min.fmc}};
  for (const Component& c : components) {
    if (c.name == "fmc" && claims.product != SnpProduct::kTurin) continue;
    if (c.reported < c.minimum) {
      return Denied(fmt::format("sev-snp.min_tcb.{}", c.name),
                    fmt::format("reported {} < {}", c.reported, c.minimum));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSection(const SnpSection& section, const SnpClaims& claims,
                          const EvaluationOptions& options) {
  if (claims.debug_allowed() && !section.allow_debug) {
    return Denied("sev-snp.allow_debug", "the report's guest policy allows debugging");
  }
  if (claims.vmpl > section.max_vmpl) {
    return Denied("sev-snp.max_vmpl",
                  fmt::format("the report was made at VMPL {}; the policy allows at most {}",
                              claims.vmpl, section.max_vmpl));
  }
  if (!section.products.empty() && !Contains(section.products, claims.product)) {
    return Denied("sev-snp.products",
                  fmt::format("the report was signed by a {} chip, which the policy does not list",
                              ProductName(claims.product)));
  }
  RETURN_IF_ERROR(CheckMinTcb(section.min_tcb, claims));
  if (section.measurements.empty()) {
    if (options.require_allow_list) {
      return Denied("sev-snp.measurements",
                    "the policy lists no launch measurement, so no SEV-SNP guest is accepted");
    }
  } else if (!Contains(section.measurements, claims.measurement)) {
    return Denied(
        "sev-snp.measurements",
        fmt::format("launch measurement {} is not in the allow-list", ToHex(claims.measurement)));
  }
  if (!section.chip_ids.empty() && !Contains(section.chip_ids, claims.chip_id)) {
    return Denied("sev-snp.chip_ids",
                  fmt::format("chip {} is not in the allow-list", ToHex(claims.chip_id)));
  }
  if (!section.host_data.empty() && !Contains(section.host_data, claims.host_data)) {
    return Denied("sev-snp.host_data",
                  fmt::format("HOST_DATA {} is not in the allow-list", ToHex(claims.host_data)));
  }
  return absl::OkStatus();
}

bool RuleMatches(const RuleMatch& m, const SnpClaims& claims) {
  if (!internal::RuleCoversTee(m, Tee::kSevSnp)) return false;
  if (!m.pcrs.empty() || !m.ak_fingerprints.empty()) return false;
  if (!m.measurements.empty() && !Contains(m.measurements, claims.measurement)) return false;
  if (!m.chip_ids.empty() && !Contains(m.chip_ids, claims.chip_id)) return false;
  if (!m.host_data.empty() && !Contains(m.host_data, claims.host_data)) return false;
  return true;
}

}  // namespace

absl::StatusOr<PolicyDecision> EvaluateSnp(const AttestationPolicy& policy, const SnpClaims& claims,
                                           const EvaluationOptions& options) {
  if (!policy.sev_snp) {
    return Denied("sev-snp", "the policy has no sev-snp section, so SEV-SNP guests are refused");
  }
  RETURN_IF_ERROR(CheckSection(*policy.sev_snp, claims, options));
  for (const Rule& rule : policy.rules) {
    if (RuleMatches(rule.match, claims)) {
      return internal::Decide(Tee::kSevSnp, rule, claims.chip_id.data(), claims.chip_id.size());
    }
  }
  return Denied("rules",
                fmt::format("no rule matches this sev-snp guest (measurement {}, chip {}...)",
                            ToHex(claims.measurement), ToHex(claims.chip_id.data(), 8)));
}

}  // namespace cloak::attest::policy
