// cloak-csi: the Cloak CSI plugin. The one place where its parts are wired together.

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "common/hardening.h"
#include "common/logging.h"
#include "csi/identity_service.h"
#include "csi/logging_interceptor.h"
#include "csi/plugin_context.h"
#include "csi/server.h"
#include "csi/version.h"

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

  const sigset_t signals = BlockTerminationSignals();

  cloak::csi::IdentityService identity(context);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<cloak::csi::LoggingInterceptorFactory>(logger));
  auto server =
      cloak::csi::GrpcServer::StartOnUnixSocket(*socket_path, {&identity}, std::move(interceptors));
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
