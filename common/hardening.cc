#include "common/hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>

#include "common/status.h"

namespace cloak {

absl::Status HardenProcess() {
  const rlimit no_core{0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
    return ErrnoToStatus(errno, "setrlimit(RLIMIT_CORE, 0)");
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return ErrnoToStatus(errno, "prctl(PR_SET_DUMPABLE, 0)");
  }
  return absl::OkStatus();
}

}  // namespace cloak
