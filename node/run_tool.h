#pragma once

// Running the filesystem tools (mkfs.ext4, xfs_growfs, ...) for SystemMounter: a fixed
// argv, never a shell.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::node {

struct ToolResult {
  int exit_status = -1;  // the exit status, or -1 when killed by a signal
  int signal = 0;        // the signal that killed it, 0 when it exited
  std::string output;    // the last ~2 KiB of stdout and stderr together
};

// Runs `program` (an absolute path) with `args` as argv[1...] and waits for it: a minimal
// environment (PATH=/usr/sbin:/usr/bin:/sbin:/bin, LC_ALL=C), stdin on /dev/null, stdout
// and stderr into one pipe, no other descriptor inherited, default signal dispositions
// and an empty signal mask. Thread-safe. A non-zero exit is a result, not an error;
// INTERNAL (or NOT_FOUND for a missing program) when it cannot be started.
absl::StatusOr<ToolResult> RunTool(const std::string& program,
                                   const std::vector<std::string>& args);

// "program arg1 arg2", for messages.
std::string CommandLine(const std::string& program, const std::vector<std::string>& args);

}  // namespace cloak::node
