#pragma once

// Authorizer: what an attested identity may do with volume keys. Policy evaluation
// proper (measurements, TCB, per-volume rules) arrives with the attestation module; the
// default here derives a role from the claimed identity and applies the fixed rule
//   controller: create, destroy, clone — never receives a key;
//   node:       receive keys, report state.

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

class Authorizer {
 public:
  virtual ~Authorizer() = default;

  // The role verified claims earn. Thread-safe. PERMISSION_DENIED when they earn none.
  virtual absl::StatusOr<Role> RoleFor(const Claims& claims) = 0;

  // OK when `role` may perform `operation` on `volume_id`. Thread-safe.
  // PERMISSION_DENIED otherwise, naming the role and the operation.
  virtual absl::Status Allow(Role role, Operation operation, std::string_view volume_id) = 0;
};

// Identity "node/<name>" → node, "controller/<name>" → controller (name non-empty),
// anything else PERMISSION_DENIED; then the fixed role rule above.
class DefaultAuthorizer final : public Authorizer {
 public:
  absl::StatusOr<Role> RoleFor(const Claims& claims) override;
  absl::Status Allow(Role role, Operation operation, std::string_view volume_id) override;
};

}  // namespace cloak::kms
