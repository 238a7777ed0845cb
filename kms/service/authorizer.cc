#include "kms/service/authorizer.h"

#include "fmt/format.h"

namespace cloak::kms {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNode:
      return "node";
    case Role::kController:
      return "controller";
  }
  return "unknown";
}

std::string_view OperationName(Operation operation) {
  switch (operation) {
    case Operation::kCreateKey:
      return "CreateVolumeKey";
    case Operation::kGetKey:
      return "GetVolumeKey";
    case Operation::kReportState:
      return "ReportVolumeState";
    case Operation::kDestroyKey:
      return "DestroyVolumeKey";
    case Operation::kCloneKey:
      return "CloneVolumeKey";
  }
  return "unknown";
}

absl::StatusOr<Role> DefaultAuthorizer::RoleFor(const Claims& claims) {
  std::string_view identity = claims.identity;
  if (identity.starts_with("node/") && identity.size() > 5) return Role::kNode;
  if (identity.starts_with("controller/") && identity.size() > 11) return Role::kController;
  return absl::PermissionDeniedError(
      fmt::format("attested identity \"{}\" earns no role: expected node/<name> or "
                  "controller/<name>",
                  identity));
}

absl::Status DefaultAuthorizer::Allow(const AccessRequest& request) {
  return AllowByRole(request.role, request.operation, request.volume_id);
}

absl::Status AllowByRole(Role role, Operation operation, std::string_view volume_id) {
  bool allowed = false;
  switch (operation) {
    case Operation::kCreateKey:
    case Operation::kDestroyKey:
    case Operation::kCloneKey:
      allowed = role == Role::kController;
      break;
    case Operation::kGetKey:
    case Operation::kReportState:
      allowed = role == Role::kNode;
      break;
  }
  if (allowed) return absl::OkStatus();
  return absl::PermissionDeniedError(fmt::format(
      "role {} may not call {} (volume {})", RoleName(role), OperationName(operation), volume_id));
}

}  // namespace cloak::kms
