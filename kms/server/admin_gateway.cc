#include "kms/server/admin_gateway.h"

#include "common/grpc_status.h"

namespace cloak::kms::server {

template <typename Handler>
grpc::Status AdminGateway::Run(grpc::ServerContext* context, std::string_view method,
                               Handler&& handler) {
  absl::StatusOr<std::string> actor = authenticator_.Authenticate(*context->auth_context());
  if (!actor.ok()) {
    if (logger_ != nullptr) {
      logger_->Warn("admin call refused", {{"method", std::string(method)},
                                           {"peer", context->peer()},
                                           {"error", std::string(actor.status().message())}});
    }
    return ToGrpcStatus(actor.status());
  }
  AdminServiceContext call_context = base_;
  call_context.actor = *actor;
  AdminServiceImpl service(std::move(call_context));
  const absl::Status status = handler(service);
  if (logger_ != nullptr) {
    LogFields fields = {{"method", std::string(method)},
                        {"actor", *actor},
                        {"code", status.ok() ? "OK" : absl::StatusCodeToString(status.code())}};
    if (!status.ok()) fields.emplace_back("error", std::string(status.message()));
    logger_->Log(status.ok() ? spdlog::level::debug : spdlog::level::warn, "admin call", fields);
  }
  return ToGrpcStatus(status);
}

grpc::Status AdminGateway::ListVolumes(grpc::ServerContext* context,
                                       const v1::ListVolumesRequest* request,
                                       v1::ListVolumesResponse* response) {
  return Run(context, "ListVolumes",
             [&](AdminServiceImpl& s) { return s.DoListVolumes(*request, response); });
}

grpc::Status AdminGateway::GetVolume(grpc::ServerContext* context,
                                     const v1::GetVolumeRequest* request,
                                     v1::VolumeInfo* response) {
  return Run(context, "GetVolume",
             [&](AdminServiceImpl& s) { return s.DoGetVolume(*request, response); });
}

grpc::Status AdminGateway::RotateKek(grpc::ServerContext* context, const v1::RotateKekRequest*,
                                     v1::RotationStatus* response) {
  return Run(context, "RotateKek", [&](AdminServiceImpl& s) {
    std::lock_guard lock(rotate_mutex_);
    return s.DoRotateKek(response);
  });
}

grpc::Status AdminGateway::GetRotationStatus(grpc::ServerContext* context,
                                             const v1::GetRotationStatusRequest*,
                                             v1::RotationStatus* response) {
  return Run(context, "GetRotationStatus",
             [&](AdminServiceImpl& s) { return s.DoGetRotationStatus(response); });
}

grpc::Status AdminGateway::GetPolicy(grpc::ServerContext* context,
                                     const v1::GetPolicyRequest* request, v1::Policy* response) {
  return Run(context, "GetPolicy",
             [&](AdminServiceImpl& s) { return s.DoGetPolicy(*request, response); });
}

grpc::Status AdminGateway::SetPolicy(grpc::ServerContext* context,
                                     const v1::SetPolicyRequest* request, v1::Policy* response) {
  return Run(context, "SetPolicy",
             [&](AdminServiceImpl& s) { return s.DoSetPolicy(*request, response); });
}

grpc::Status AdminGateway::ListAudit(grpc::ServerContext* context,
                                     const v1::ListAuditRequest* request,
                                     v1::ListAuditResponse* response) {
  return Run(context, "ListAudit",
             [&](AdminServiceImpl& s) { return s.DoListAudit(*request, response); });
}

grpc::Status AdminGateway::Health(grpc::ServerContext* context, const v1::HealthRequest*,
                                  v1::HealthResponse* response) {
  return Run(context, "Health", [&](AdminServiceImpl& s) {
    const absl::Status status = s.DoHealth(response);
    if (insecure_allow_unattested_) {
      response->set_message(response->message() +
                            "; WARNING: insecure_allow_unattested is on: EVIDENCE_TYPE_NONE is "
                            "accepted without attestation (development only)");
    }
    return status;
  });
}

}  // namespace cloak::kms::server
