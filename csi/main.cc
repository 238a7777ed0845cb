// cloak-csi: the Cloak CSI plugin. The one place where its parts are wired together.

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "common/hardening.h"
#include "common/logging.h"
#include "controller/controller_plugin.h"
#include "csi/identity_service.h"
#include "csi/logging_interceptor.h"
#include "csi/plugin_context.h"
#include "csi/server.h"
#include "csi/version.h"
#include "fmt/format.h"
#include "node/node_plugin.h"

namespace {

constexpr int kUsageError = 2;

struct Flags {
  std::string endpoint;
  std::string mode;
  std::string node_id;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string state_dir = "/var/lib/cloak";
  int drain_seconds = 10;
  // Both modes: the local backend's directory and the key service.
  std::string local_dir = "/var/lib/cloak/local";
  std::int64_t max_volumes = 0;
  std::int64_t reserve_bytes = 0;
  std::uint32_t controller_ak_handle = 0x81010003;
  std::string controller_insecure_identity;
  std::int64_t pending_expiry_seconds = 3600;
  std::string kms_address;
  std::string kms_ca_file;
  std::string kms_server_name;
  std::string attester = "auto";
  std::string tpm_device = "/dev/tpmrm0";
  std::string tpm_tcti;
  std::uint32_t tpm_ak_handle = 0x81010002;
  bool insecure_allow_unattested = false;
  std::string insecure_identity;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cloak-csi: %s\n", message.c_str());
  return kUsageError;
}

// Blocks the termination signals in every thread (gRPC's threads inherit the mask),
// so the main thread alone receives them through sigwait.
sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"cloak-csi: the Cloak CSI plugin (encrypted, attested volumes)", "cloak-csi"};
  app.add_option("--endpoint", flags.endpoint, "CSI endpoint, unix:///path/csi.sock")->required();
  app.add_option("--mode", flags.mode, "services to run: controller, node or all")->required();
  app.add_option("--node-id", flags.node_id, "this node's id (the Kubernetes node name)")
      ->required();
  app.add_option("--log-format", flags.log_format, "text or json")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.add_option("--state-dir", flags.state_dir, "directory for the plugin's state records")
      ->capture_default_str();
  app.add_option("--drain-timeout", flags.drain_seconds,
                 "seconds to let in-flight calls finish on SIGTERM")
      ->capture_default_str()
      ->check(CLI::Range(0, 600));
  app.add_option("--local-dir", flags.local_dir,
                 "directory of the local backend's backing files (<volume_id>.img) and, for the "
                 "controller, its manifest")
      ->capture_default_str();
  app.add_option("--max-volumes", flags.max_volumes,
                 "node: NodeGetInfo's max_volumes_per_node (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--local-reserve-bytes", flags.reserve_bytes,
                 "controller: free space in --local-dir never given to volumes")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kms-address", flags.kms_address, "the key service, HOST:PORT");
  app.add_option("--kms-ca-file", flags.kms_ca_file,
                 "PEM of the CA that signed the key service's certificate");
  app.add_option("--kms-server-name", flags.kms_server_name,
                 "the name in the key service's certificate, when not the host");
  app.add_option("--attester", flags.attester, "evidence to present: auto, sev-snp, tpm")
      ->capture_default_str();
  app.add_option("--tpm-device", flags.tpm_device, "the TPM device auto-detection looks for")
      ->capture_default_str();
  app.add_option("--tpm-tcti", flags.tpm_tcti, "TCTI configuration (default device:DEVICE)");
  app.add_option("--tpm-ak-handle", flags.tpm_ak_handle,
                 "node: persistent handle of its attestation key (created there when empty)")
      ->capture_default_str();
  app.add_option("--controller-tpm-ak-handle", flags.controller_ak_handle,
                 "controller: persistent handle of its attestation key, distinct from the "
                 "node's so that the policy can tell the two roles apart")
      ->capture_default_str();
  app.add_option("--controller-pending-expiry", flags.pending_expiry_seconds,
                 "controller: seconds after which a volume whose CreateVolume never finished "
                 "and was not retried is removed, key and storage (0: never; at most a year)")
      ->capture_default_str()
      ->check(
          CLI::Range(std::int64_t{0}, std::int64_t{cloak::controller::kMaxPendingExpiry.count()}));
  app.add_flag("--insecure-allow-unattested", flags.insecure_allow_unattested,
               "DEVELOPMENT ONLY: allow --attester none (proves nothing)");
  app.add_option("--insecure-identity", flags.insecure_identity,
                 "node: with --attester none, the identity claimed (node/NAME)");
  app.add_option("--controller-insecure-identity", flags.controller_insecure_identity,
                 "controller: with --attester none, the identity claimed (default "
                 "controller/NODE_ID)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(std::string(e.what()) + " (see --help)");
  }

  const auto mode = cloak::csi::ParsePluginMode(flags.mode);
  if (!mode.ok()) return UsageError(std::string(mode.status().message()));
  const auto format = cloak::ParseLogFormat(flags.log_format);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  const auto level = cloak::ParseLogLevel(flags.log_level);
  if (!level.ok()) return UsageError(std::string(level.status().message()));
  if (flags.node_id.empty() || flags.node_id.size() > 128) {
    return UsageError("--node-id must be 1 to 128 characters");
  }
  const auto socket_path = cloak::csi::ParseUnixEndpoint(flags.endpoint);
  if (!socket_path.ok()) return UsageError(std::string(socket_path.status().message()));
  auto faults = cloak::FaultPoints::FromEnvironment();
  if (!faults.ok()) return UsageError(std::string(faults.status().message()));

  const std::shared_ptr<cloak::Logger> logger = cloak::Logger::ToStderr(*format, *level);
  if (const absl::Status hardened = cloak::HardenProcess(); !hardened.ok()) {
    logger->Error("process hardening failed", {{"error", std::string(hardened.message())}});
    return 1;
  }

  cloak::csi::PluginContext context;
  context.mode = *mode;
  context.node_id = flags.node_id;
  context.vendor_version = cloak::kVersion;
  context.logger = logger;
  context.faults = *std::move(faults);
  context.readiness_checks.push_back(cloak::csi::WritableDirectoryCheck(flags.state_dir, "state"));
  if (cloak::csi::ServesNode(*mode)) {
    context.readiness_checks.push_back(cloak::csi::DeviceMapperCheck());
  }

  const auto choice = cloak::kms::client::ParseAttesterChoice(flags.attester);
  if (!choice.ok()) return UsageError(std::string(choice.status().message()));

  const sigset_t signals = BlockTerminationSignals();

  auto key_service = [&](std::uint32_t ak_handle,
                         const std::string& none_identity) -> cloak::csi::KeyServiceConnection {
    cloak::csi::KeyServiceConnection connection;
    connection.address = flags.kms_address;
    connection.ca_file = flags.kms_ca_file;
    connection.server_name = flags.kms_server_name;
    connection.attester.choice = *choice;
    connection.attester.tpm_device = flags.tpm_device;
    connection.attester.tpm_tcti = flags.tpm_tcti;
    connection.attester.tpm.ak_handle = ak_handle;
    connection.attester.tpm.persist_ak = true;
    connection.attester.insecure_allow_unattested = flags.insecure_allow_unattested;
    connection.attester.none_identity = none_identity;
    return connection;
  };
  // A setup failure: a usage error for bad flags, otherwise exit 1 with the reason logged.
  auto setup_failed = [&](std::string_view part, const absl::Status& status) {
    if (status.code() == absl::StatusCode::kInvalidArgument) {
      return UsageError(std::string(status.message()));
    }
    logger->Error(fmt::format("{} plugin setup failed", part),
                  {{"error", std::string(status.message())}});
    return 1;
  };

  std::unique_ptr<cloak::node::NodePlugin> node;
  if (cloak::csi::ServesNode(*mode)) {
    cloak::node::NodePluginConfig config;
    config.node_id = flags.node_id;
    config.state_dir = flags.state_dir;
    config.local_dir = flags.local_dir;
    config.max_volumes = flags.max_volumes;
    config.key_service = key_service(flags.tpm_ak_handle, flags.insecure_identity);
    auto created = cloak::node::NodePlugin::Create(config, logger, &context.faults);
    if (!created.ok()) return setup_failed("node", created.status());
    node = *std::move(created);
    context.readiness_checks.push_back(node->KeyServiceCheck());
  }

  std::unique_ptr<cloak::controller::ControllerPlugin> controller;
  if (cloak::csi::ServesController(*mode)) {
    cloak::controller::ControllerPluginConfig config;
    config.local = {
        .dir = flags.local_dir, .node_id = flags.node_id, .reserve_bytes = flags.reserve_bytes};
    config.key_service =
        key_service(flags.controller_ak_handle, flags.controller_insecure_identity.empty()
                                                    ? "controller/" + flags.node_id
                                                    : flags.controller_insecure_identity);
    config.pending_expiry = std::chrono::seconds(flags.pending_expiry_seconds);
    auto created = cloak::controller::ControllerPlugin::Create(config, logger, &context.faults);
    if (!created.ok()) return setup_failed("controller", created.status());
    controller = *std::move(created);
    context.readiness_checks.push_back(controller->KeyServiceCheck());
  }

  cloak::csi::IdentityService identity(context);
  std::vector<grpc::Service*> services = {&identity};
  if (node) services.push_back(&node->service());
  if (controller) services.push_back(&controller->service());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<cloak::csi::LoggingInterceptorFactory>(logger));
  auto server =
      cloak::csi::GrpcServer::StartOnUnixSocket(*socket_path, services, std::move(interceptors));
  if (!server.ok()) return UsageError(std::string(server.status().message()));

  logger->Info("serving", {{"endpoint", flags.endpoint},
                           {"mode", flags.mode},
                           {"node_id", flags.node_id},
                           {"version", cloak::kVersion}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  logger->Info("shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                                 {"drain_seconds", std::to_string(flags.drain_seconds)}});
  const auto started = std::chrono::steady_clock::now();
  (*server)->Shutdown(std::chrono::seconds(flags.drain_seconds));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  logger->Info("stopped", {{"drain_ms", std::to_string(took.count())}});
  return 0;
}
