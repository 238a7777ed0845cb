// cloakctl: Cloak's admin CLI. The one wiring point: real implementations are created
// here and handed to the command groups (one file per group).

#include <grpc/support/log.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "cli/attest_command.h"
#include "cli/client_config.h"
#include "cli/exit_codes.h"
#include "cli/header_command.h"
#include "cli/kms_commands.h"
#include "crypt/cryptsetup_impl.h"

namespace {

// gRPC's own log lines repeat, less readably, what cloakctl's messages already say;
// GRPC_VERBOSITY=... brings them back for debugging.
void DropGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DropGrpcLog);
  CLI::App app("cloakctl: Cloak key rotation, policy and offline verification tool");
  app.require_subcommand(1);
  // Global options (--kms, -o, ...) may also follow the command.
  app.fallthrough();
  int result = cloak::cli::kExitOk;

  auto cryptsetup = cloak::crypt::NewLibCryptsetup();
  cloak::cli::AddHeaderCommands(app, *cryptsetup, result);

  std::function<int()> kms_action;
  cloak::cli::AddKmsCommands(
      app,
      cloak::cli::KmsCommandDeps{.connect = cloak::cli::GrpcAdminClientFactory(),
                                 .clock = cloak::cli::SystemWaitClock(),
                                 .stdout_is_terminal = isatty(STDOUT_FILENO) == 1,
                                 .stderr_is_terminal = isatty(STDERR_FILENO) == 1,
                                 .out = &std::cout,
                                 .err = &std::cerr,
                                 .default_config_path = cloak::cli::DefaultClientConfigPath()},
      kms_action);

  std::function<int()> attest_action;
  cloak::cli::AddAttestCommands(
      app, cloak::cli::AttestCommandDeps{.now = absl::Now, .out = &std::cout, .err = &std::cerr},
      attest_action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cloak::cli::kExitUsage;
  }
  if (kms_action) return kms_action();
  if (attest_action) return attest_action();
  return result;
}
