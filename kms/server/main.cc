// cloak-kms: the Cloak key service. The one place where its parts are wired together.
//
//   cloak-kms serve --config FILE [overrides]   serve KeyService and AdminService
//   cloak-kms init --dir DIR                    create a development setup
//   cloak-kms kek init --config FILE            put KEK version 1 into the configured provider
//
// Exit codes: 0 success (serve: stopped by SIGTERM/SIGINT after draining), 1 runtime
// failure, 2 usage or configuration error.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"
#include "common/fault_injection.h"
#include "common/hardening.h"
#include "common/logging.h"
#include "kms/server/config.h"
#include "kms/server/init_command.h"
#include "kms/server/kek_factory.h"
#include "kms/server/server.h"

namespace {

constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;

struct ServeFlags {
  std::string config;
  std::optional<std::string> listen;
  std::optional<std::string> ready_file;
  std::optional<std::string> log_format;
  std::optional<std::string> log_level;
  bool insecure_allow_unattested = false;
  int drain_seconds = 10;
};

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "cloak-kms: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

// Configuration problems are the operator's to fix (exit 2); the rest are runtime (1).
int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
      return kUsageError;
    default:
      return kRuntimeError;
  }
}

// Blocks the termination signals in every thread (gRPC's threads inherit the mask), so
// the main thread alone receives them through sigwait.
sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int Serve(const ServeFlags& flags) {
  if (const absl::Status hardened = cloak::HardenProcess(); !hardened.ok()) {
    return Fail(kRuntimeError, "process hardening failed: " + std::string(hardened.message()));
  }
  absl::StatusOr<cloak::kms::server::ServerConfig> config =
      cloak::kms::server::LoadServerConfig(flags.config);
  if (!config.ok()) return Fail(ExitCodeFor(config.status()), config.status().message());
  if (flags.listen) config->listen = *flags.listen;
  if (flags.ready_file) config->ready_file = *flags.ready_file;
  if (flags.log_format) config->log_format = *flags.log_format;
  if (flags.log_level) config->log_level = *flags.log_level;
  if (flags.insecure_allow_unattested) config->insecure_allow_unattested = true;

  const auto format = cloak::ParseLogFormat(config->log_format);
  if (!format.ok())
    return Fail(kUsageError, "log format: " + std::string(format.status().message()));
  const auto level = cloak::ParseLogLevel(config->log_level);
  if (!level.ok()) return Fail(kUsageError, "log level: " + std::string(level.status().message()));
  if (const absl::Status secrets = cloak::kms::server::CheckSecretFiles(*config); !secrets.ok()) {
    return Fail(ExitCodeFor(secrets), secrets.message());
  }
  auto faults = cloak::FaultPoints::FromEnvironment();
  if (!faults.ok()) return Fail(kUsageError, faults.status().message());

  const std::shared_ptr<cloak::Logger> logger = cloak::Logger::ToStderr(*format, *level);
  const sigset_t signals = BlockTerminationSignals();
  // A ready file left by an earlier run must not announce this one before it serves.
  if (!config->ready_file.empty()) unlink(config->ready_file.c_str());

  auto server = cloak::kms::server::KmsServer::Start(*config, logger, *std::move(faults));
  if (!server.ok()) {
    logger->Error("cannot start", {{"error", std::string(server.status().message())}});
    return ExitCodeFor(server.status());
  }
  if (!config->ready_file.empty()) {
    const absl::Status ready =
        cloak::kms::server::WriteReadyFile(config->ready_file, (*server)->address());
    if (!ready.ok()) {
      logger->Error("cannot write the ready file", {{"error", std::string(ready.message())}});
      (*server)->Shutdown(std::chrono::milliseconds(0));
      return kRuntimeError;
    }
  }
  logger->Info("serving", {{"address", (*server)->address()},
                           {"ready_file", config->ready_file},
                           {"insecure_allow_unattested",
                            config->insecure_allow_unattested ? "true" : "false"}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  logger->Info("shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                                 {"drain_seconds", std::to_string(flags.drain_seconds)}});
  const auto started = std::chrono::steady_clock::now();
  (*server)->Shutdown(std::chrono::seconds(flags.drain_seconds));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  server->reset();
  logger->Info("stopped", {{"drain_ms", std::to_string(took.count())}});
  return 0;
}

int Init(const cloak::kms::server::InitOptions& options) {
  absl::StatusOr<cloak::kms::server::InitResult> result = cloak::kms::server::RunInit(options);
  if (!result.ok()) return Fail(ExitCodeFor(result.status()), result.status().message());
  std::printf(
      "cloak-kms: wrote %zu files\n  config:   %s\n  cloakctl: %s\n"
      "start it with: cloak-kms serve --config %s\n",
      result->files.size(), result->config_path.c_str(), result->cloakctl_path.c_str(),
      result->config_path.c_str());
  return 0;
}

// Creates KEK version 1 where the configuration's `kek:` section points: a fresh PKCS#11
// token (the usual case; `init` already writes a file KEK) or a missing KEK file.
int KekInit(const std::string& config_path) {
  absl::StatusOr<cloak::kms::server::ServerConfig> config =
      cloak::kms::server::LoadServerConfig(config_path);
  if (!config.ok()) return Fail(ExitCodeFor(config.status()), config.status().message());
  if (!config->kek.pin_file.empty()) {
    const absl::Status pin =
        cloak::kms::server::CheckSecretFile(config->kek.pin_file, "kek.pin_file");
    if (!pin.ok()) return Fail(ExitCodeFor(pin), pin.message());
  }
  absl::StatusOr<std::uint32_t> version = cloak::kms::server::InitializeKek(config->kek);
  if (!version.ok()) {
    if (version.status().code() == absl::StatusCode::kAlreadyExists) {
      return Fail(kRuntimeError, std::string(version.status().message()) +
                                     " (nothing was changed; rotate with `cloakctl kek rotate`)");
    }
    return Fail(ExitCodeFor(version.status()), version.status().message());
  }
  std::printf("cloak-kms: KEK version %u created (kek.type %s)\n", *version,
              config->kek.type.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cloak-kms: the Cloak key service (attested key release, admin API)", "cloak-kms"};
  app.require_subcommand(1);

  ServeFlags serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "serve KeyService and AdminService");
  serve_cmd->add_option("--config", serve.config, "the YAML configuration file")->required();
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT (overrides `listen`; port 0: any)");
  serve_cmd->add_option("--ready-file", serve.ready_file,
                        "write HOST:PORT here once serving (overrides `ready_file`)");
  serve_cmd->add_option("--log-format", serve.log_format, "text or json (overrides log.format)");
  serve_cmd->add_option("--log-level", serve.log_level,
                        "trace, debug, info, warn, error (overrides log.level)");
  serve_cmd->add_flag("--insecure-allow-unattested", serve.insecure_allow_unattested,
                      "accept EVIDENCE_TYPE_NONE (development only; never in production)");
  serve_cmd
      ->add_option("--drain-timeout", serve.drain_seconds,
                   "seconds to let in-flight calls finish on SIGTERM/SIGINT")
      ->capture_default_str()
      ->check(CLI::Range(0, 600));

  cloak::kms::server::InitOptions init;
  CLI::App* init_cmd = app.add_subcommand("init", "create a development setup in a directory");
  init_cmd->add_option("--dir", init.dir, "the directory to create (0700)")->required();
  init_cmd->add_option("--cloakctl-config", init.cloakctl_config,
                       "where to write cloakctl's configuration "
                       "(default ~/.config/cloak/cloakctl.yaml)");
  init_cmd->add_option("--listen", init.listen, "the `listen` address written to kms.yaml")
      ->capture_default_str();
  init_cmd->add_flag("--force", init.force,
                     "replace a non-empty DIR (discarding its KEK and store) and the cloakctl "
                     "configuration");

  std::string kek_config;
  CLI::App* kek_cmd = app.add_subcommand("kek", "KEK provider maintenance");
  kek_cmd->require_subcommand(1);
  CLI::App* kek_init_cmd =
      kek_cmd->add_subcommand("init", "create KEK version 1 in the configured provider");
  kek_init_cmd->add_option("--config", kek_config, "the YAML configuration file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(kUsageError, std::string(e.what()) + " (see --help)");
  }
  if (serve_cmd->parsed()) return Serve(serve);
  if (kek_init_cmd->parsed()) return KekInit(kek_config);
  return Init(init);
}
