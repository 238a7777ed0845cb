#include "common/hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace cloak {
namespace {

// Hardening changes the whole process, so it runs in a child that reports back
// through its exit code: 0 = hardened as promised.
TEST(HardenProcessTest, DisablesCoreDumpsAndDumpability) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (prctl(PR_GET_DUMPABLE) != 1) _exit(10);  // Precondition: dumpable before.
    if (!HardenProcess().ok()) _exit(11);
    if (prctl(PR_GET_DUMPABLE) != 0) _exit(12);
    rlimit limit{};
    if (getrlimit(RLIMIT_CORE, &limit) != 0 || limit.rlim_cur != 0 || limit.rlim_max != 0) {
      _exit(13);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace cloak
