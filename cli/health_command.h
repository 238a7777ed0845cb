#pragma once

// `cloakctl health`: is the key service serving, and with which KEK version.

#include "cli/command_io.h"
#include "cli/kms_client.h"

namespace cloak::cli {

// Calls Health and prints serving, the current KEK version and the service's message.
// kExitOk when serving; kExitFailed (message on io.err) when it is not or cannot be
// reached.
int RunHealth(AdminClient& client, const CommandIo& io);

}  // namespace cloak::cli
