#pragma once

// ControllerPlugin: the controller side of cloak-csi assembled from its real parts — the
// local backend in its directory and the attested key service client (role controller,
// with an attestation key of its own). cloak-csi's main builds one in controller (or all)
// mode and serves its ControllerService.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/fault_injection.h"
#include "common/logging.h"
#include "controller/controller_service.h"
#include "controller/local_backend.h"
#include "csi/key_service_connection.h"
#include "csi/readiness.h"

namespace cloak::controller {

// The longest pending-volume expiry: far below what the steady clock's nanoseconds hold.
inline constexpr std::chrono::seconds kMaxPendingExpiry{365 * 24 * 3600};

struct ControllerPluginConfig {
  LocalBackendOptions local;  // dir, node_id, reserve_bytes
  csi::KeyServiceConnection key_service;
  // Pending volumes untouched this long are removed (ControllerService::
  // SweepAbandonedPending); zero turns the sweep off.
  std::chrono::seconds pending_expiry{3600};
};

class ControllerPlugin {
 public:
  // Opens the backend and builds the client; nothing is dialled yet (the first key call
  // attests). INVALID_ARGUMENT for bad flags, the backend's and the attester's codes.
  static absl::StatusOr<std::unique_ptr<ControllerPlugin>> Create(
      const ControllerPluginConfig& config, std::shared_ptr<Logger> logger,
      const FaultPoints* faults);

  // Stops the sweep of abandoned pending volumes.
  ~ControllerPlugin();

  ControllerService& service() { return *service_; }
  // Probe: the key service answers and admits this controller's evidence.
  std::unique_ptr<csi::ReadinessCheck> KeyServiceCheck() const;

 private:
  ControllerPlugin() = default;

  // Sweeps every quarter of `expiry` (1 s to 10 min) until the plugin is destroyed.
  void RunSweeper(std::chrono::seconds expiry);

  std::unique_ptr<LocalBackend> backend_;
  std::unique_ptr<kms::client::KeyServiceClient> keys_;
  std::unique_ptr<ControllerService> service_;
  std::shared_ptr<Logger> logger_;
  std::mutex sweeper_mutex_;
  std::condition_variable sweeper_wake_;
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace cloak::controller
