#pragma once

namespace cloak::cli {

// cloakctl's exit codes, shared by every command group.
inline constexpr int kExitOk = 0;
// The check ran and failed (header mismatch, no header, unreadable device), or the
// command's action failed.
inline constexpr int kExitFailed = 1;
// The command line or an input file given on it is wrong.
inline constexpr int kExitUsage = 2;

}  // namespace cloak::cli
