#include "attest/verifier/policy_authorizer.h"

#include "attest/policy/evaluate.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest {
namespace {

kms::Role ToKms(policy::Role role) {
  return role == policy::Role::kController ? kms::Role::kController : kms::Role::kNode;
}

policy::Role ToPolicy(kms::Role role) {
  return role == kms::Role::kController ? policy::Role::kController : policy::Role::kNode;
}

policy::Operation ToPolicy(kms::Operation operation) {
  switch (operation) {
    case kms::Operation::kCreateKey:
      return policy::Operation::kCreateKey;
    case kms::Operation::kGetKey:
      return policy::Operation::kGetKey;
    case kms::Operation::kReportState:
      return policy::Operation::kReportState;
    case kms::Operation::kDestroyKey:
      return policy::Operation::kDestroyKey;
    case kms::Operation::kCloneKey:
      return policy::Operation::kCloneKey;
  }
  return policy::Operation::kGetKey;
}

bool NamesARule(std::string_view identity) { return identity.find('@') != std::string_view::npos; }

}  // namespace

absl::StatusOr<kms::Role> PolicyAuthorizer::RoleFor(const kms::Claims& claims) {
  if (claims.tee_type == kms::EvidenceType::kNone) return unattested_.RoleFor(claims);
  absl::StatusOr<policy::ParsedIdentity> parsed = policy::ParsePolicyIdentity(claims.identity);
  if (!parsed.ok()) {
    return absl::PermissionDeniedError(
        fmt::format("attested identity \"{}\" names no policy rule", claims.identity));
  }
  return ToKms(parsed->role);
}

absl::Status PolicyAuthorizer::Allow(const kms::AccessRequest& request) {
  if (!NamesARule(request.identity)) return unattested_.Allow(request);
  absl::StatusOr<policy::ParsedIdentity> parsed = policy::ParsePolicyIdentity(request.identity);
  if (!parsed.ok() || ToKms(parsed->role) != request.role) {
    return absl::PermissionDeniedError(fmt::format(
        "session identity \"{}\" does not match its role; attest again", request.identity));
  }
  absl::StatusOr<std::shared_ptr<const LoadedPolicy>> loaded = policy_.Current();
  if (loaded.status().code() == absl::StatusCode::kNotFound) {
    return absl::PermissionDeniedError(loaded.status().message());
  }
  if (!loaded.ok()) return loaded.status();
  static const std::map<std::string, std::string> kNoLabels;
  absl::Status allowed = policy::AllowVolumeOperation(
      (*loaded)->policy, parsed->rule, ToPolicy(request.role), ToPolicy(request.operation),
      request.labels != nullptr ? *request.labels : kNoLabels);
  if (allowed.ok()) return allowed;
  return absl::PermissionDeniedError(
      fmt::format("volume {}: {}", request.volume_id, std::string(allowed.message())));
}

}  // namespace cloak::attest
