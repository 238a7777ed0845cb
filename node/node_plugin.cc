#include "node/node_plugin.h"

#include "common/status.h"
#include "crypt/block_devices_impl.h"
#include "crypt/cryptsetup_impl.h"
#include "crypt/device_mapper_impl.h"

namespace cloak::node {

struct NodePlugin::Parts {
  std::unique_ptr<crypt::Cryptsetup> cryptsetup;
  std::unique_ptr<crypt::DeviceMapper> device_mapper;
  std::unique_ptr<crypt::BlockDevices> devices;
  std::unique_ptr<crypt::Engine> engine;
  std::unique_ptr<Mounter> mounter;
  std::unique_ptr<LoopDevices> loops;
  std::unique_ptr<StateStore> state;
  std::unique_ptr<KernelLog> kernel_log;
  std::unique_ptr<kms::client::KeyServiceClient> keys;
};

NodePlugin::NodePlugin(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
NodePlugin::~NodePlugin() = default;

absl::StatusOr<std::unique_ptr<NodePlugin>> NodePlugin::Create(const NodePluginConfig& config,
                                                               std::shared_ptr<Logger> logger,
                                                               const FaultPoints* faults) {
  if (config.local_dir.empty() || config.local_dir.front() != '/') {
    return absl::InvalidArgumentError("--local-dir must be an absolute directory");
  }
  auto parts = std::make_unique<Parts>();
  parts->cryptsetup = crypt::NewLibCryptsetup();
  parts->device_mapper = crypt::NewLibDeviceMapper();
  parts->devices = crypt::NewSystemBlockDevices();
  parts->engine =
      std::make_unique<crypt::Engine>(*parts->cryptsetup, *parts->device_mapper, *parts->devices);
  parts->mounter = MakeSystemMounter();
  parts->loops = MakeSystemLoopDevices();
  parts->kernel_log = MakeSystemKernelLog();
  ASSIGN_OR_RETURN(parts->state, StateStore::Open(config.state_dir));

  ASSIGN_OR_RETURN(parts->keys, csi::ConnectKeyService(config.key_service, "node"));

  auto plugin = std::unique_ptr<NodePlugin>(new NodePlugin(std::move(parts)));
  Parts& p = *plugin->parts_;
  plugin->service_ =
      std::make_unique<NodeService>(NodeServiceOptions{.node_id = config.node_id,
                                                       .local_dir = config.local_dir,
                                                       .max_volumes = config.max_volumes},
                                    NodeServiceDeps{.keys = p.keys.get(),
                                                    .engine = p.engine.get(),
                                                    .devices = p.devices.get(),
                                                    .mounter = p.mounter.get(),
                                                    .loops = p.loops.get(),
                                                    .state = p.state.get(),
                                                    .faults = faults,
                                                    .logger = std::move(logger),
                                                    .kernel_log = p.kernel_log.get()});
  return plugin;
}

std::unique_ptr<csi::ReadinessCheck> NodePlugin::KeyServiceCheck() const {
  return csi::KeyServiceCheck(*parts_->keys);
}

}  // namespace cloak::node
