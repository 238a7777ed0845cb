// Fuzz target: any bytes through the policy parser and validator; a document that parses
// must survive its canonical JSON round trip and an evaluation.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/policy/evaluate.h"
#include "attest/policy/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cloak::attest::policy;
  const std::string_view document(reinterpret_cast<const char*>(data), size);
  const std::vector<PolicyError> errors = ValidatePolicy(document);
  absl::StatusOr<AttestationPolicy> policy = ParsePolicy(document);
  // Validation and parsing agree on whether a document is valid.
  if (policy.ok() != errors.empty()) std::abort();
  if (!policy.ok()) return 0;
  absl::StatusOr<AttestationPolicy> again = ParsePolicy(PolicyToJson(*policy));
  if (!again.ok() || !(*again == *policy)) std::abort();
  const EvaluationOptions options{.require_allow_list = true, .allow_insecure_none = true};
  (void)EvaluateSnp(*policy, cloak::attest::SnpClaims{}, options);
  (void)EvaluateTpm(*policy, cloak::attest::TpmClaims{}, options);
  (void)EvaluateNone(*policy, "node/fuzz", options);
  for (const Rule& rule : policy->rules) {
    (void)AllowVolumeOperation(*policy, rule.name, rule.role, Operation::kGetKey, {});
  }
  return 0;
}
