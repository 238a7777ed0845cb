#pragma once

// Crash-safe file replacement: write a temporary file beside the target, fsync it, rename
// it over the target, fsync the directory. A crash at any point leaves either the old
// file or the new one, never a mix. Used for KEK files and for the node plugin's state
// records.

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"

namespace cloak {

// Replaces `path` with `contents`, created with `mode`. Errors keep their errno meaning
// (ErrnoToStatus) and name the file. Thread-safe for distinct paths.
absl::Status WriteFileAtomically(const std::string& path, std::span<const std::uint8_t> contents,
                                 mode_t mode);

}  // namespace cloak
