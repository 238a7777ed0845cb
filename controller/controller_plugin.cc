#include "controller/controller_plugin.h"

#include <algorithm>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::controller {

absl::StatusOr<std::unique_ptr<ControllerPlugin>> ControllerPlugin::Create(
    const ControllerPluginConfig& config, std::shared_ptr<Logger> logger,
    const FaultPoints* faults) {
  if (config.pending_expiry.count() < 0 || config.pending_expiry > kMaxPendingExpiry) {
    return absl::InvalidArgumentError(
        fmt::format("the pending-volume expiry must be 0 to {} seconds, not {}",
                    kMaxPendingExpiry.count(), config.pending_expiry.count()));
  }
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
  plugin->logger_ = logger;
  plugin->service_ =
      std::make_unique<ControllerService>(ControllerServiceDeps{.keys = plugin->keys_.get(),
                                                                .backend = plugin->backend_.get(),
                                                                .faults = faults,
                                                                .logger = std::move(logger)});
  if (config.pending_expiry.count() > 0) {
    ControllerPlugin* raw = plugin.get();
    plugin->sweeper_ =
        std::thread([raw, expiry = config.pending_expiry] { raw->RunSweeper(expiry); });
  }
  return plugin;
}

ControllerPlugin::~ControllerPlugin() {
  {
    std::lock_guard lock(sweeper_mutex_);
    stopping_ = true;
  }
  sweeper_wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void ControllerPlugin::RunSweeper(std::chrono::seconds expiry) {
  const std::chrono::seconds interval =
      std::clamp(expiry / 4, std::chrono::seconds(1), std::chrono::seconds(600));
  std::unique_lock lock(sweeper_mutex_);
  while (!stopping_) {
    lock.unlock();
    const std::size_t removed =
        service_->SweepAbandonedPending(std::chrono::steady_clock::now(), expiry);
    if (removed > 0 && logger_ != nullptr) {
      logger_->Info(
          "abandoned pending volumes swept",
          {{"removed", std::to_string(removed)}, {"expiry_s", std::to_string(expiry.count())}});
    }
    lock.lock();
    sweeper_wake_.wait_for(lock, interval, [this] { return stopping_; });
  }
}

std::unique_ptr<csi::ReadinessCheck> ControllerPlugin::KeyServiceCheck() const {
  return csi::KeyServiceCheck(*keys_);
}

}  // namespace cloak::controller
