#pragma once

// NodeService: the CSI Node service (CSI v1.12.0; DESIGN §4 is the data flow). Every RPC
// is a reconcile: it looks at what is there (state record, loop device, mapping, mounts)
// and does only what is missing, so a repeated call, or a call after the plugin was
// killed mid-way, completes the work without doing any step twice. One operation per
// volume at a time (VolumeLocks: a second one is ABORTED).
//
// Staging a volume of the `local` backend:
//   backing file <local_dir>/<volume_id>.img → loop device (direct I/O, 4096-byte blocks)
//   → the sealed DEK and the volume record from the key service (attesting first when
//   the session expired; the record, not volume_context, decides every parameter)
//   → a new volume (record "created") is formatted only when the device is blank; an
//   existing one has its header checked against the record → dm-crypt (and
//   dm-integrity) opened with the live-table check → a new integrity volume has every
//   tag written once (no read of a never-written sector reaches the application) → a new
//   filesystem volume gets its filesystem → mount at the staging path → "formatted"
//   reported to the key service → the DEK is wiped when the call returns.
// Named fault points (common/fault_injection.h) follow each step: node.stage.after_attach,
// .after_key_fetch, .after_format, .after_open, .after_integrity_init, .after_mkfs,
// .after_mount, .after_report; node.unstage.after_unmount, .after_close, .after_detach.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/fault_injection.h"
#include "common/logging.h"
#include "common/volume_locks.h"
#include "crypt/block_devices.h"
#include "crypt/engine.h"
#include "csi/csi.grpc.pb.h"
#include "csi/topology.h"
#include "kms/client/key_service_client.h"
#include "node/kernel_log.h"
#include "node/loop_devices.h"
#include "node/mounter.h"
#include "node/state_store.h"

namespace cloak::node {

inline constexpr const char* kTopologyKey = csi::kNodeTopologyKey;

struct NodeServiceOptions {
  std::string node_id;
  // Backing files of the local backend: <local_dir>/<volume_id>.img.
  std::string local_dir;
  // NodeGetInfo's max_volumes_per_node; 0 reports no limit.
  std::int64_t max_volumes = 0;
};

// The parts the service drives; each must outlive it. `logger` may be null.
struct NodeServiceDeps {
  kms::client::KeyServiceClient* keys = nullptr;
  crypt::Engine* engine = nullptr;
  crypt::BlockDevices* devices = nullptr;
  Mounter* mounter = nullptr;
  LoopDevices* loops = nullptr;
  StateStore* state = nullptr;
  const FaultPoints* faults = nullptr;
  std::shared_ptr<Logger> logger;
  // dm-crypt's integrity errors (kernel_log.h); null: only dm-integrity's own counter.
  KernelLog* kernel_log = nullptr;
};

class NodeService final : public ::csi::v1::Node::Service {
 public:
  NodeService(NodeServiceOptions options, NodeServiceDeps deps)
      : options_(std::move(options)), deps_(std::move(deps)) {}

  grpc::Status NodeStageVolume(grpc::ServerContext*,
                               const ::csi::v1::NodeStageVolumeRequest* request,
                               ::csi::v1::NodeStageVolumeResponse* response) override;
  grpc::Status NodeUnstageVolume(grpc::ServerContext*,
                                 const ::csi::v1::NodeUnstageVolumeRequest* request,
                                 ::csi::v1::NodeUnstageVolumeResponse* response) override;
  grpc::Status NodePublishVolume(grpc::ServerContext*,
                                 const ::csi::v1::NodePublishVolumeRequest* request,
                                 ::csi::v1::NodePublishVolumeResponse* response) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext*,
                                   const ::csi::v1::NodeUnpublishVolumeRequest* request,
                                   ::csi::v1::NodeUnpublishVolumeResponse* response) override;
  grpc::Status NodeGetVolumeStats(grpc::ServerContext*,
                                  const ::csi::v1::NodeGetVolumeStatsRequest* request,
                                  ::csi::v1::NodeGetVolumeStatsResponse* response) override;
  grpc::Status NodeExpandVolume(grpc::ServerContext*,
                                const ::csi::v1::NodeExpandVolumeRequest* request,
                                ::csi::v1::NodeExpandVolumeResponse* response) override;
  grpc::Status NodeGetCapabilities(grpc::ServerContext*,
                                   const ::csi::v1::NodeGetCapabilitiesRequest* request,
                                   ::csi::v1::NodeGetCapabilitiesResponse* response) override;
  grpc::Status NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest* request,
                           ::csi::v1::NodeGetInfoResponse* response) override;

  // The same with absl::Status, for tests and in-process callers.
  absl::Status Stage(const ::csi::v1::NodeStageVolumeRequest& request);
  absl::Status Unstage(const ::csi::v1::NodeUnstageVolumeRequest& request);
  absl::Status Publish(const ::csi::v1::NodePublishVolumeRequest& request);
  absl::Status Unpublish(const ::csi::v1::NodeUnpublishVolumeRequest& request);
  absl::Status GetVolumeStats(const ::csi::v1::NodeGetVolumeStatsRequest& request,
                              ::csi::v1::NodeGetVolumeStatsResponse* response);
  absl::Status Expand(const ::csi::v1::NodeExpandVolumeRequest& request,
                      ::csi::v1::NodeExpandVolumeResponse* response);
  void GetCapabilities(::csi::v1::NodeGetCapabilitiesResponse* response) const;
  void GetInfo(::csi::v1::NodeGetInfoResponse* response) const;

  // The backing file of `volume_id` in the local backend.
  std::string BackingFile(const std::string& volume_id) const;

 private:
  struct StageSpec;

  absl::Status StageLocked(const StageSpec& spec);
  // After a refusal that ends the stage (no key, attestation refused), detaches the loop
  // device and removes the state record when nothing past the attach exists; kubelet does
  // not unstage a volume whose stage failed. Errors are logged, not returned.
  void AbandonStage(const VolumeStateRecord& state, const absl::Status& why);
  // Brings a fresh volume's contents to life once: tags, then the filesystem.
  absl::Status PrepareNewVolume(const StageSpec& spec, const std::string& mapper_path,
                                VolumeStateRecord& state);
  absl::Status UnstageLocked(const std::string& volume_id, const std::string& staging_path);
  // dm-crypt integrity errors the kernel logged for the volume's devices since it was
  // opened; 0 without a kernel log or when it cannot be read (logged).
  std::uint64_t LoggedIntegrityErrors(const VolumeStateRecord& state) const;
  void Hit(std::string_view point) const;
  // Ends stage step `step`: records its time and hits fault point node.stage.after_<step>.
  void StageStep(const StageSpec& spec, std::string_view step) const;
  void Log(std::string_view message, const std::string& volume_id, LogFields fields = {}) const;

  const NodeServiceOptions options_;
  const NodeServiceDeps deps_;
  VolumeLocks locks_;
};

// The device-mapper name of a volume's crypt mapping: "cloak-<volume_id>".
std::string MapperName(const std::string& volume_id);

// The device-mapper name of the read-only view that a read-only block publish of the
// volume at `target_path` binds: "cloakro-<16 hex digits of SHA-256(target_path)>-<id>"
// (never a crypt mapping's name, which starts "cloak-").
std::string ReadOnlyViewName(const std::string& volume_id, const std::string& target_path);

}  // namespace cloak::node
