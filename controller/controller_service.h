#pragma once

// ControllerService: the CSI Controller service (CSI v1.12.0) over a VolumeBackend and
// the key service. Every RPC is a reconcile.
//
// CreateVolume: validate → the backend's volume for the name (created pending, or found;
// ALREADY_EXISTS when incompatible) → CreateVolumeKey in the key service (idempotent
// there too) → the volume marked ready. A failure after the backing storage existed
// destroys the key (if any) and removes the storage, so nothing is left behind; when
// even that cannot be done (the key service is unreachable) the pending volume stays
// for the retry to finish. A crash leaves a pending volume that the retried call finds.
// Fault points: controller.create.after_backing, controller.create.after_key.
//
// DeleteVolume: DestroyVolumeKey first (crypto-shredding: the data is unrecoverable from
// then on, whatever the backend keeps), then the backing storage. An unknown id is OK.
// Fault point: controller.delete.after_destroy.
//
// The controller is a key-service client of role "controller": it may create and
// destroy keys and never receives one.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/fault_injection.h"
#include "common/logging.h"
#include "common/volume_locks.h"
#include "controller/volume_backend.h"
#include "csi/csi.grpc.pb.h"
#include "kms/client/key_service_client.h"

namespace cloak::controller {

// The parts the service drives; each must outlive it. `logger` and `faults` may be null.
struct ControllerServiceDeps {
  kms::client::KeyServiceClient* keys = nullptr;
  VolumeBackend* backend = nullptr;
  const FaultPoints* faults = nullptr;
  std::shared_ptr<Logger> logger;
};

class ControllerService final : public ::csi::v1::Controller::Service {
 public:
  explicit ControllerService(ControllerServiceDeps deps) : deps_(std::move(deps)) {}

  grpc::Status CreateVolume(grpc::ServerContext*, const ::csi::v1::CreateVolumeRequest* request,
                            ::csi::v1::CreateVolumeResponse* response) override;
  grpc::Status DeleteVolume(grpc::ServerContext*, const ::csi::v1::DeleteVolumeRequest* request,
                            ::csi::v1::DeleteVolumeResponse* response) override;
  grpc::Status ValidateVolumeCapabilities(
      grpc::ServerContext*, const ::csi::v1::ValidateVolumeCapabilitiesRequest* request,
      ::csi::v1::ValidateVolumeCapabilitiesResponse* response) override;
  grpc::Status ListVolumes(grpc::ServerContext*, const ::csi::v1::ListVolumesRequest* request,
                           ::csi::v1::ListVolumesResponse* response) override;
  grpc::Status GetCapacity(grpc::ServerContext*, const ::csi::v1::GetCapacityRequest* request,
                           ::csi::v1::GetCapacityResponse* response) override;
  grpc::Status ControllerExpandVolume(grpc::ServerContext*,
                                      const ::csi::v1::ControllerExpandVolumeRequest* request,
                                      ::csi::v1::ControllerExpandVolumeResponse* response) override;
  grpc::Status ControllerGetVolume(grpc::ServerContext*,
                                   const ::csi::v1::ControllerGetVolumeRequest* request,
                                   ::csi::v1::ControllerGetVolumeResponse* response) override;
  grpc::Status ControllerGetCapabilities(
      grpc::ServerContext*, const ::csi::v1::ControllerGetCapabilitiesRequest* request,
      ::csi::v1::ControllerGetCapabilitiesResponse* response) override;

  // The same with absl::Status, for tests and in-process callers.
  absl::Status Create(const ::csi::v1::CreateVolumeRequest& request,
                      ::csi::v1::CreateVolumeResponse* response);
  absl::Status Delete(const ::csi::v1::DeleteVolumeRequest& request);
  absl::Status Validate(const ::csi::v1::ValidateVolumeCapabilitiesRequest& request,
                        ::csi::v1::ValidateVolumeCapabilitiesResponse* response) const;
  absl::Status List(const ::csi::v1::ListVolumesRequest& request,
                    ::csi::v1::ListVolumesResponse* response) const;
  absl::Status Capacity(const ::csi::v1::GetCapacityRequest& request,
                        ::csi::v1::GetCapacityResponse* response) const;
  absl::Status Expand(const ::csi::v1::ControllerExpandVolumeRequest& request,
                      ::csi::v1::ControllerExpandVolumeResponse* response);
  absl::Status GetVolume(const ::csi::v1::ControllerGetVolumeRequest& request,
                         ::csi::v1::ControllerGetVolumeResponse* response) const;
  static void GetCapabilities(::csi::v1::ControllerGetCapabilitiesResponse* response);

  // Removes the pending volumes that no CreateVolume has touched for `expiry`, counted on
  // the steady clock from when this service first saw each (at `now`, for those it finds
  // here). A pending volume was never returned to the CO, so it holds no data; one that
  // stays pending is what a CreateVolume leaves when its claim is deleted before a retry
  // succeeds. Its key is destroyed first (one may exist), then its storage; a volume with
  // a CreateVolume or DeleteVolume in flight is skipped, and failures are logged and
  // retried by the next sweep. Returns the number removed.
  std::size_t SweepAbandonedPending(std::chrono::steady_clock::time_point now,
                                    std::chrono::steady_clock::duration expiry);

 private:
  // Key creation and readiness for a volume the backend holds; on failure, the undo.
  absl::Status FinishCreate(const BackendVolume& volume);
  void FillVolume(const BackendVolume& volume, ::csi::v1::Volume* out) const;
  void Hit(std::string_view point) const;
  void Log(std::string_view message, const std::string& volume_id, LogFields fields = {}) const;

  // Records that a CreateVolume worked on pending volume `volume_id` now.
  void TouchPending(const std::string& volume_id);

  const ControllerServiceDeps deps_;
  VolumeLocks names_;    // CreateVolume, by name
  VolumeLocks volumes_;  // DeleteVolume and ControllerExpandVolume, by id
  std::mutex pending_mutex_;
  // Pending volumes by id: when a CreateVolume last touched each, or when a sweep first
  // saw it.
  std::map<std::string, std::chrono::steady_clock::time_point> pending_touched_;
};

}  // namespace cloak::controller
