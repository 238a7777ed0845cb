#pragma once

// `cloakctl kek rotate [--wait]` and `cloakctl kek status`: KEK rotation (docs/kms.md).

#include <functional>

#include "absl/time/time.h"
#include "cli/command_io.h"
#include "cli/kms_client.h"
#include "nlohmann/json.hpp"

namespace cloak::cli {

// Where --wait reads the time and sleeps; the real clock in the binary, a fake in tests.
struct WaitClock {
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
};

// The wall clock and a real sleep.
WaitClock SystemWaitClock();

struct KekRotateArgs {
  bool wait = false;
  // True when the progress stream (stdout for text, stderr with -o json) is a terminal.
  bool progress_on_terminal = false;
  absl::Duration poll_interval = absl::Milliseconds(500);
  absl::Duration plain_interval = absl::Seconds(5);  // plain progress: one line per this
  // --wait gives up (kExitFailed) when the service reports no progress for this long.
  absl::Duration stall_timeout = absl::Minutes(2);
};

// RotateKek; with args.wait follows GetRotationStatus until the rotation completes or
// fails, showing progress. kExitOk when started (or completed, with --wait); kExitFailed
// when a call fails, the rotation fails, or it stalls. With -o json, stdout gets one
// document with the last status and progress goes to stderr.
int RunKekRotate(AdminClient& client, const KekRotateArgs& args, const WaitClock& clock,
                 const CommandIo& io);

// GetRotationStatus, as text or JSON. kExitFailed when the call fails.
int RunKekStatus(AdminClient& client, const CommandIo& io);

// The JSON form of a rotation status. Thread-safe.
nlohmann::json RotationJson(const v1::RotationStatus& status);

}  // namespace cloak::cli
