#pragma once

// Registers cloakctl's key-service command groups (health, volumes, kek, audit, policy) and the
// global connection options (--kms, --ca, --cert, --key, --config, -o) on a CLI11 app.
// The chosen command runs after parsing, through `action`, so that every global option
// is known before a connection is made.

#include <functional>
#include <iosfwd>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli/client_config.h"
#include "cli/kek_command.h"
#include "cli/kms_client.h"

namespace cloak::cli {

using AdminClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<AdminClient>>(const ClientConfig&)>;

struct KmsCommandDeps {
  AdminClientFactory connect;  // builds the client once the settings are resolved
  WaitClock clock;             // for `kek rotate --wait`
  bool stdout_is_terminal = false;
  bool stderr_is_terminal = false;
  std::ostream* out = nullptr;  // must outlive the action
  std::ostream* err = nullptr;
  std::string default_config_path;  // DefaultClientConfigPath() in the binary
};

// Adds the options and commands to `app`. When one of the commands is chosen, parsing
// sets `action` to a function that resolves the settings, connects and runs it,
// returning the exit code. `app` must outlive `action`.
void AddKmsCommands(CLI::App& app, KmsCommandDeps deps, std::function<int()>& action);

// The connection settings the real binary uses: GrpcAdminClient with a 30 s deadline.
AdminClientFactory GrpcAdminClientFactory();

}  // namespace cloak::cli
