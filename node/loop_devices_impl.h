#pragma once

// SystemLoopDevices: LoopDevices over the kernel's loop driver (/dev/loop-control, the
// loop ioctls and /sys/block/loopN). No external programs.

#include <memory>

#include "node/loop_devices.h"

namespace cloak::node {

struct SystemLoopDevicesOptions {
  // Attach tries LOOP_CONFIGURE (Linux 5.8) before the LOOP_SET_FD sequence; tests turn
  // it off to run the older kernels' path on a new kernel.
  bool use_loop_configure = true;
};

// The loop driver's LoopDevices, configured by `options` (MakeSystemLoopDevices() uses
// the defaults).
std::unique_ptr<LoopDevices> MakeSystemLoopDevices(const SystemLoopDevicesOptions& options);

}  // namespace cloak::node
