#pragma once

#include "absl/status/status.h"

namespace cloak {

// Makes the process unsuitable for leaking memory: no core dumps (RLIMIT_CORE 0) and
// not dumpable (PR_SET_DUMPABLE 0, which also blocks ptrace attach by non-root and
// /proc/PID/mem reads). Called first thing by the node plugin and the key service.
// Returns INTERNAL naming the call that failed.
absl::Status HardenProcess();

}  // namespace cloak
