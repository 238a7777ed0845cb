#pragma once

// Authorizer: what an attested identity may do with volume keys. The attestation
// policy's authorizer (attest/verifier) adds per-rule volume selectors; the default here
// derives a role from the identity and applies the fixed rule every authorizer keeps
//   controller: create, destroy, clone — never receives a key;
//   node:       receive keys, report state.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kms/service/evidence_verifier.h"

namespace cloak::kms {

enum class Role { kNode, kController };
enum class Operation { kCreateKey, kGetKey, kReportState, kDestroyKey, kCloneKey };

// "node", "controller".
std::string_view RoleName(Role role);
// "CreateVolumeKey", "GetVolumeKey", ... (the RPC names).
std::string_view OperationName(Operation operation);

// One call on one volume by one session.
struct AccessRequest {
  std::string_view identity;  // the session's attested identity
  Role role = Role::kNode;
  Operation operation = Operation::kGetKey;
  std::string_view volume_id;
  // The volume's labels: the stored ones for an existing volume (empty when it does
  // not exist), the requested ones for a create or the new volume of a clone.
  const std::map<std::string, std::string>* labels = nullptr;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;

  // The role verified claims earn. Thread-safe. PERMISSION_DENIED when they earn none.
  virtual absl::StatusOr<Role> RoleFor(const Claims& claims) = 0;

  // OK when the request may proceed. Thread-safe. PERMISSION_DENIED otherwise, naming
  // the role, the operation and the volume.
  virtual absl::Status Allow(const AccessRequest& request) = 0;
};

// Identity "node/<name>" → node, "controller/<name>" → controller (name non-empty),
// anything else PERMISSION_DENIED; then the fixed role rule above.
absl::Status AllowByRole(Role role, Operation operation, std::string_view volume_id);
class DefaultAuthorizer final : public Authorizer {
 public:
  absl::StatusOr<Role> RoleFor(const Claims& claims) override;
  absl::Status Allow(const AccessRequest& request) override;
};

}  // namespace cloak::kms
