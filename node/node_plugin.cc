#include "node/node_plugin.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/status.h"
#include "crypt/block_devices_impl.h"
#include "crypt/cryptsetup_impl.h"
#include "crypt/device_mapper_impl.h"
#include "fmt/format.h"
#include "kms/client/grpc_key_service_client.h"

namespace cloak::node {
namespace {

absl::StatusOr<std::string> ReadText(const std::string& path, std::string_view flag) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(fmt::format("{} {}: cannot be read", flag, path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Probe's view of the key service: an attestation (Challenge → evidence → Attest) that
// succeeded less than a minute ago counts; otherwise one is run now. A refusal or an
// unreachable service is not-ready with the client's message.
class KeyServiceReadiness final : public csi::ReadinessCheck {
 public:
  explicit KeyServiceReadiness(kms::client::KeyServiceClient& keys) : keys_(keys) {}

  absl::Status Check() const override {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (checked_ && now - checked_at_ < std::chrono::minutes(1) && last_.ok()) return last_;
    absl::StatusOr<kms::client::SessionInfo> session = keys_.Attest();
    last_ = session.ok() ? absl::OkStatus()
                         : absl::Status(session.status().code(),
                                        fmt::format("key service at {}: {}", keys_.address(),
                                                    std::string(session.status().message())));
    checked_ = true;
    checked_at_ = now;
    return last_;
  }

 private:
  kms::client::KeyServiceClient& keys_;
  mutable std::mutex mutex_;
  mutable bool checked_ = false;
  mutable std::chrono::steady_clock::time_point checked_at_;
  mutable absl::Status last_;
};

}  // namespace

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
  if (config.kms_address.empty()) {
    return absl::InvalidArgumentError("--kms-address is required in node mode (HOST:PORT)");
  }
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

  kms::client::GrpcKeyServiceClientOptions client;
  client.address = config.kms_address;
  ASSIGN_OR_RETURN(client.ca_pem, ReadText(config.kms_ca_file, "--kms-ca-file"));
  client.target_name_override = config.kms_server_name;
  ASSIGN_OR_RETURN(std::unique_ptr<kms::client::Attester> attester,
                   kms::client::SelectAttester(config.attester));
  ASSIGN_OR_RETURN(parts->keys, kms::client::GrpcKeyServiceClient::Create(std::move(client),
                                                                          std::move(attester)));

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
  return std::make_unique<KeyServiceReadiness>(*parts_->keys);
}

}  // namespace cloak::node
