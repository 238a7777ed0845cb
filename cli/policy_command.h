#pragma once

// `cloakctl policy get|set|validate`: the attestation policy document
// (docs/attestation-policy.md). `set` and `validate` check the file with the parser the
// key service uses; an invalid file is refused whole and nothing is sent.

#include <cstdint>
#include <iosfwd>
#include <string>

#include "cli/command_io.h"
#include "cli/kms_client.h"

namespace cloak::cli {

struct PolicyGetArgs {
  std::int64_t version = 0;  // 0: the latest
};

struct PolicySetArgs {
  std::string path;
  // The version the stored policy must be at (0: none may exist yet); -1: read the current
  // version first and store on top of it.
  std::int64_t expected_version = -1;
};

// Reads and checks the policy file at `path` without any key service. kExitOk when valid
// (a summary on io.out); kExitFailed with every error ("FILE: path: message") on io.err
// when invalid; kExitUsage when the file cannot be read. -o json: one document
// {"file", "valid", "errors": [{"path", "message"}]} on io.out.
int RunPolicyValidate(const std::string& path, const CommandIo& io);

// The same check for `policy set`, before any connection: kExitOk, or the exit code after
// writing the errors to `err` under "cloakctl <command>".
int CheckPolicyFile(const std::string& path, std::ostream& err);

// Checks args.path, then stores its canonical JSON form with SetPolicy and prints the new
// version. kExitFailed (nothing sent) when the file is invalid, or when a call fails or the
// stored version is not the expected one; kExitUsage when the file cannot be read.
int RunPolicySet(AdminClient& client, const PolicySetArgs& args, const CommandIo& io);

// GetPolicy: version, time and the document, pretty-printed; a note on io.err when the
// stored document is not valid for this build. kExitFailed when none is stored (NOT_FOUND)
// or the call fails.
int RunPolicyGet(AdminClient& client, const PolicyGetArgs& args, const CommandIo& io);

}  // namespace cloak::cli
