#pragma once

// `cloakctl header ...`: offline checks of LUKS2 headers against volume records.

#include <iosfwd>
#include <string>

#include "CLI/CLI.hpp"
#include "crypt/cryptsetup.h"

namespace cloak::cli {

struct HeaderVerifyArgs {
  std::string device;       // block device or image file
  std::string record_path;  // VolumeRecord JSON (docs/volume-record.md)
};

// Checks the header on args.device against the record: prints a one-line summary to
// `out` and returns kExitOk when it matches; prints the first mismatching field to `err`
// and returns kExitFailed when it does not; kExitUsage when the record file is unreadable
// or invalid.
int RunHeaderVerify(const HeaderVerifyArgs& args, crypt::Cryptsetup& cryptsetup, std::ostream& out,
                    std::ostream& err);

// Adds the `header` command group to `app`. `result` receives the exit code of the
// command that ran; `cryptsetup` must outlive app.parse().
void AddHeaderCommands(CLI::App& app, crypt::Cryptsetup& cryptsetup, int& result);

}  // namespace cloak::cli
