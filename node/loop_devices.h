#pragma once

// LoopDevices: the `local` backend's device resolution — a volume's backing file
// attached to a loop device with direct I/O and a 4096-byte logical block size
// (LOOP_CONFIGURE, falling back to LOOP_SET_FD + LOOP_SET_BLOCK_SIZE +
// LOOP_SET_DIRECT_IO on kernels before 5.8), found again after a restart by its backing
// file's device and inode (sysfs loop/backing_file and LOOP_GET_STATUS64), and detached on
// unstage. SystemLoopDevices (loop_devices_impl.h) is the real one; NodeService tests use
// a fake. Thread-safe.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::node {

struct LoopDevice {
  std::string path;  // "/dev/loopN"
  bool direct_io = false;
  std::uint32_t logical_block_size = 0;

  friend bool operator==(const LoopDevice&, const LoopDevice&) = default;
};

class LoopDevices {
 public:
  virtual ~LoopDevices() = default;

  // The loop device backing `backing_file` (a regular file, opened O_RDWR|O_DIRECT|O_CLOEXEC);
  // reuses one already attached to the same file (same st_dev and st_ino) rather than
  // attaching it twice. The device is not autoclear: it survives the plugin's restart.
  // NOT_FOUND when the file does not exist; FAILED_PRECONDITION when it is not a regular
  // file or its size is not a multiple of 4096; UNAVAILABLE when no loop device is free.
  virtual absl::StatusOr<LoopDevice> Attach(const std::string& backing_file) = 0;

  // The loop device attached to `backing_file`; NOT_FOUND when there is none.
  virtual absl::StatusOr<LoopDevice> Find(const std::string& backing_file) = 0;

  // Detaches every loop device attached to `backing_file` (LOOP_CLR_FD). OK when there
  // is none. UNAVAILABLE when one is still in use (EBUSY: a mapping or mount on it).
  virtual absl::Status Detach(const std::string& backing_file) = 0;

  // Makes `device` re-read its backing file's size after the file grew
  // (LOOP_SET_CAPACITY). NOT_FOUND when `device` is not an attached loop device.
  virtual absl::Status RefreshCapacity(const std::string& device) = 0;
};

std::unique_ptr<LoopDevices> MakeSystemLoopDevices();

}  // namespace cloak::node
