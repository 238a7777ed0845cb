#pragma once

// Helpers shared by the SEV-SNP, TPM and none evaluations. Internal to attest/policy.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/policy/evaluate.h"

namespace cloak::attest::policy::internal {

template <typename T>
bool Contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// PERMISSION_DENIED "<path>: <message>".
absl::Status Denied(std::string_view path, std::string_view message);

// True when the rule may be tried for `tee`: its tee list names it, or (for sev-snp and
// tpm only) it has no tee list.
bool RuleCoversTee(const RuleMatch& match, Tee tee);

// Every PCR in `allowed` is in `reported` with one of its allowed values.
bool PcrsMatch(const PcrAllowList& allowed,
               const std::map<std::uint32_t, std::vector<std::uint8_t>>& reported);

// The decision for `rule`, with identity "<role>/<rule>@<hex of the first 8 bytes of id>".
PolicyDecision Decide(Tee tee, const Rule& rule, const std::uint8_t* id, std::size_t id_size);

}  // namespace cloak::attest::policy::internal
