// cloakctl: Cloak's admin CLI. The one wiring point: real implementations are created
// here and handed to the command groups (one file per group).

#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/exit_codes.h"
#include "cli/header_command.h"
#include "crypt/cryptsetup_impl.h"

int main(int argc, char** argv) {
  CLI::App app("cloakctl: Cloak key rotation, policy and offline verification tool");
  app.require_subcommand(1);
  int result = cloak::cli::kExitOk;

  auto cryptsetup = cloak::crypt::NewLibCryptsetup();
  cloak::cli::AddHeaderCommands(app, *cryptsetup, result);

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
  return result;
}
