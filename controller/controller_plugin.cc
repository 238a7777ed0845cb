#include "controller/controller_plugin.h"

#include "common/status.h"

namespace cloak::controller {

absl::StatusOr<std::unique_ptr<ControllerPlugin>> ControllerPlugin::Create(
    const ControllerPluginConfig& config, std::shared_ptr<Logger> logger,
    const FaultPoints* faults) {
  auto plugin = std::unique_ptr<ControllerPlugin>(new ControllerPlugin());
  ASSIGN_OR_RETURN(plugin->keys_, csi::ConnectKeyService(config.key_service, "controller"));
  ASSIGN_OR_RETURN(plugin->backend_, LocalBackend::Open(config.local));
  if (logger != nullptr) {
    const std::vector<BackendVolume> volumes = plugin->backend_->List(0, 0);
    logger->Info("local backend opened",
                 {{"dir", config.local.dir},
                  {"volumes", std::to_string(volumes.size())},
                  {"reserve_bytes", std::to_string(config.local.reserve_bytes)}});
  }
  plugin->service_ =
      std::make_unique<ControllerService>(ControllerServiceDeps{.keys = plugin->keys_.get(),
                                                                .backend = plugin->backend_.get(),
                                                                .faults = faults,
                                                                .logger = std::move(logger)});
  return plugin;
}

std::unique_ptr<csi::ReadinessCheck> ControllerPlugin::KeyServiceCheck() const {
  return csi::KeyServiceCheck(*keys_);
}

}  // namespace cloak::controller
