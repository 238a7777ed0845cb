#include "csi/identity_service.h"

namespace cloak::csi {

using ::csi::v1::PluginCapability;

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext*,
                                            const ::csi::v1::GetPluginInfoRequest*,
                                            ::csi::v1::GetPluginInfoResponse* response) {
  response->set_name(kPluginName);
  response->set_vendor_version(context_.vendor_version);
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetPluginCapabilities(
    grpc::ServerContext*, const ::csi::v1::GetPluginCapabilitiesRequest*,
    ::csi::v1::GetPluginCapabilitiesResponse* response) {
  if (ServesController(context_.mode)) {
    response->add_capabilities()->mutable_service()->set_type(
        PluginCapability::Service::CONTROLLER_SERVICE);
    // ControllerExpandVolume grows the backing file while the volume is in use; the node
    // then grows the crypt mapping and the filesystem online.
    response->add_capabilities()->mutable_volume_expansion()->set_type(
        PluginCapability::VolumeExpansion::ONLINE);
  }
  response->add_capabilities()->mutable_service()->set_type(
      PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS);
  return grpc::Status::OK;
}

grpc::Status IdentityService::Probe(grpc::ServerContext*, const ::csi::v1::ProbeRequest*,
                                    ::csi::v1::ProbeResponse* response) {
  context_.faults.Hit("identity.probe");
  const absl::Status status = CheckAll(context_.readiness_checks);
  if (!status.ok()) {
    context_.logger->Warn("not ready", {{"reason", std::string(status.message())}});
  }
  response->mutable_ready()->set_value(status.ok());
  return grpc::Status::OK;
}

}  // namespace cloak::csi
