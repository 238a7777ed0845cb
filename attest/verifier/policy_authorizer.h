#pragma once

// PolicyAuthorizer: the key service's Authorizer when an attestation policy is in force.
// A session's identity "<role>/<rule>@<id>" names the policy rule that admitted the guest;
// every call is judged by that rule in the policy in force now (so a rule removed or
// narrowed takes effect on live sessions), by its volume label selector, and by the fixed
// role rule (controllers never receive keys). Identities without a rule — claimed with
// NONE evidence in insecure development mode — get the fixed role rule only.

#include "attest/verifier/policy_source.h"
#include "kms/service/authorizer.h"

namespace cloak::attest {

class PolicyAuthorizer final : public kms::Authorizer {
 public:
  // `policy` must outlive the authorizer.
  explicit PolicyAuthorizer(PolicySource& policy) : policy_(policy) {}

  absl::StatusOr<kms::Role> RoleFor(const kms::Claims& claims) override;
  absl::Status Allow(const kms::AccessRequest& request) override;

 private:
  PolicySource& policy_;
  kms::DefaultAuthorizer unattested_;
};

}  // namespace cloak::attest
