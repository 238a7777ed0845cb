#include "attest/verifier/policy_source.h"

#include "attest/policy/parse.h"

namespace cloak::attest {

StorePolicySource::StorePolicySource(kms::KeyStore& store, const kms::Clock& clock,
                                     absl::Duration refresh)
    : document_(
          store, clock, std::string(policy::kPolicyName), refresh,
          [](const kms::PolicyRecord& record) -> absl::StatusOr<LoadedPolicy> {
            absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(record.document);
            if (!parsed.ok()) return parsed.status();
            return LoadedPolicy{.policy = *std::move(parsed), .version = record.version};
          },
          "set a valid one with `cloakctl policy set FILE`") {}

absl::StatusOr<std::shared_ptr<const LoadedPolicy>> StorePolicySource::Current() {
  absl::StatusOr<std::shared_ptr<const LoadedPolicy>> current = document_.Current();
  if (current.ok() && *current == nullptr) {
    return absl::NotFoundError(
        "no attestation policy is set; load one with `cloakctl policy set FILE`");
  }
  return current;
}

}  // namespace cloak::attest
