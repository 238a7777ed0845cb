#pragma once

// The CSI Identity service: who the plugin is, what it offers, whether it is ready.

#include "csi/csi.grpc.pb.h"
#include "csi/plugin_context.h"

namespace cloak::csi {

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  // `context` must outlive the service.
  explicit IdentityService(const PluginContext& context) : context_(context) {}

  // Name cloak.csi.dev and the build's version. Always OK.
  grpc::Status GetPluginInfo(grpc::ServerContext* server_context,
                             const ::csi::v1::GetPluginInfoRequest* request,
                             ::csi::v1::GetPluginInfoResponse* response) override;

  // CONTROLLER_SERVICE when this process serves the controller, and
  // VOLUME_ACCESSIBILITY_CONSTRAINTS (volumes live on one node). Always OK.
  grpc::Status GetPluginCapabilities(grpc::ServerContext* server_context,
                                     const ::csi::v1::GetPluginCapabilitiesRequest* request,
                                     ::csi::v1::GetPluginCapabilitiesResponse* response) override;

  // OK with ready=true when every dependency of the mode is usable; OK with
  // ready=false (and the reason logged) otherwise.
  grpc::Status Probe(grpc::ServerContext* server_context, const ::csi::v1::ProbeRequest* request,
                     ::csi::v1::ProbeResponse* response) override;

 private:
  const PluginContext& context_;
};

}  // namespace cloak::csi
