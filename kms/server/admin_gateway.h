#pragma once

// AdminGateway: the AdminService as cloak-kms serves it. Every call first checks the
// caller's client certificate (AdminAuthenticator), then runs AdminServiceImpl's handler
// with the certificate subject as the audit actor. RotateKek calls are serialised, so two
// operators cannot start two rotations at once on this replica.

#include <memory>
#include <mutex>
#include <string>

#include "common/logging.h"
#include "kms/proto/kms.grpc.pb.h"
#include "kms/server/tls.h"
#include "kms/service/admin_service.h"

namespace cloak::kms::server {

class AdminGateway final : public v1::AdminService::Service {
 public:
  // `base` supplies everything but the actor; `authenticator` and `logger` must outlive
  // the gateway. `insecure_allow_unattested` is reported by Health.
  AdminGateway(AdminServiceContext base, const AdminAuthenticator& authenticator,
               std::shared_ptr<Logger> logger, bool insecure_allow_unattested)
      : base_(std::move(base)),
        authenticator_(authenticator),
        logger_(std::move(logger)),
        insecure_allow_unattested_(insecure_allow_unattested) {}

  grpc::Status ListVolumes(grpc::ServerContext* context, const v1::ListVolumesRequest* request,
                           v1::ListVolumesResponse* response) override;
  grpc::Status GetVolume(grpc::ServerContext* context, const v1::GetVolumeRequest* request,
                         v1::VolumeInfo* response) override;
  grpc::Status RotateKek(grpc::ServerContext* context, const v1::RotateKekRequest* request,
                         v1::RotationStatus* response) override;
  grpc::Status GetRotationStatus(grpc::ServerContext* context,
                                 const v1::GetRotationStatusRequest* request,
                                 v1::RotationStatus* response) override;
  grpc::Status GetPolicy(grpc::ServerContext* context, const v1::GetPolicyRequest* request,
                         v1::Policy* response) override;
  grpc::Status SetPolicy(grpc::ServerContext* context, const v1::SetPolicyRequest* request,
                         v1::Policy* response) override;
  grpc::Status ListAudit(grpc::ServerContext* context, const v1::ListAuditRequest* request,
                         v1::ListAuditResponse* response) override;
  grpc::Status Health(grpc::ServerContext* context, const v1::HealthRequest* request,
                      v1::HealthResponse* response) override;

 private:
  // Authenticates the caller and runs `handler` on an AdminServiceImpl whose actor is the
  // caller's certificate subject; logs the outcome.
  template <typename Handler>
  grpc::Status Run(grpc::ServerContext* context, std::string_view method, Handler&& handler);

  const AdminServiceContext base_;
  const AdminAuthenticator& authenticator_;
  std::shared_ptr<Logger> logger_;
  const bool insecure_allow_unattested_;
  std::mutex rotate_mutex_;
};

}  // namespace cloak::kms::server
