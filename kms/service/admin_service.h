#pragma once

// AdminServiceImpl: the gRPC AdminService (kms/proto/kms.proto, docs/kms.md). Operators
// list volumes, rotate the KEK, manage policies and read the audit log. It never returns
// key bytes, wrapped or not. Client authentication (mutual TLS with the admin CA) is the
// server's job; the service is callable in-process.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "kms/crypto/kek_provider.h"
#include "kms/proto/kms.grpc.pb.h"
#include "kms/service/kek_rotator.h"
#include "kms/store/key_store.h"

namespace cloak::kms {

// What Health reports about the service's configuration (never a secret or a path).
struct ServiceDescription {
  std::string store = "unknown";         // "sqlite", "etcd"
  std::string kek_provider = "unknown";  // "file", "pkcs11"
  std::vector<std::string> evidence_types;
  bool insecure_allow_unattested = false;
};

struct AdminServiceContext {
  KeyStore* store = nullptr;
  KekProvider* keks = nullptr;
  KekRotator* rotator = nullptr;
  // Runs the rewrapping after RotateKek has answered (a background thread in the
  // binary). Null: RotateKek rewraps everything before it answers.
  std::function<void(std::function<void()>)> run_in_background;
  // The audit actor of admin calls (the binary passes the client certificate subject).
  std::string actor = "admin";
  ServiceDescription description;
  // Checks a policy document before it is stored (the attestation policy's parser for
  // its name); a refusal is returned as INVALID_ARGUMENT and audited. Null: any JSON
  // object is stored.
  std::function<absl::Status(std::string_view name, std::string_view document)> check_policy;
  // Called after a policy version was stored (so that this replica judges by it at once).
  std::function<void(std::string_view name)> policy_stored;
};

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  explicit AdminServiceImpl(AdminServiceContext context) : ctx_(std::move(context)) {}

  grpc::Status ListVolumes(grpc::ServerContext*, const v1::ListVolumesRequest* request,
                           v1::ListVolumesResponse* response) override;
  grpc::Status GetVolume(grpc::ServerContext*, const v1::GetVolumeRequest* request,
                         v1::VolumeInfo* response) override;
  grpc::Status RotateKek(grpc::ServerContext*, const v1::RotateKekRequest* request,
                         v1::RotationStatus* response) override;
  grpc::Status GetRotationStatus(grpc::ServerContext*, const v1::GetRotationStatusRequest* request,
                                 v1::RotationStatus* response) override;
  grpc::Status GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest* request,
                         v1::Policy* response) override;
  grpc::Status SetPolicy(grpc::ServerContext*, const v1::SetPolicyRequest* request,
                         v1::Policy* response) override;
  grpc::Status ListAudit(grpc::ServerContext*, const v1::ListAuditRequest* request,
                         v1::ListAuditResponse* response) override;
  grpc::Status Health(grpc::ServerContext*, const v1::HealthRequest* request,
                      v1::HealthResponse* response) override;

  // The same with absl::Status, for in-process callers and tests.
  absl::Status DoListVolumes(const v1::ListVolumesRequest& request,
                             v1::ListVolumesResponse* response);
  absl::Status DoGetVolume(const v1::GetVolumeRequest& request, v1::VolumeInfo* response);
  absl::Status DoRotateKek(v1::RotationStatus* response);
  absl::Status DoGetRotationStatus(v1::RotationStatus* response);
  absl::Status DoGetPolicy(const v1::GetPolicyRequest& request, v1::Policy* response);
  absl::Status DoSetPolicy(const v1::SetPolicyRequest& request, v1::Policy* response);
  absl::Status DoListAudit(const v1::ListAuditRequest& request, v1::ListAuditResponse* response);
  absl::Status DoHealth(v1::HealthResponse* response);

 private:
  absl::Status AuditRead(std::string action, std::string volume_id = "");

  AdminServiceContext ctx_;
};

}  // namespace cloak::kms
