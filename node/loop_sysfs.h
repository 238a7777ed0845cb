#pragma once

// What sysfs (and /proc/self/mountinfo) say about loop devices: the read-only half of
// SystemLoopDevices (loop_devices_impl.cc issues the ioctls).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "node/loop_devices.h"

namespace cloak::node {

// "/dev/loopN".
std::string LoopDevicePath(int number);

// "/sys/block/loopN/<attribute>".
std::string LoopSysfsPath(int number, std::string_view attribute);

// The contents of a sysfs attribute without its trailing newline; NOT_FOUND when it
// does not exist.
absl::StatusOr<std::string> ReadSysfsAttribute(const std::string& path);

// The numbers of the kernel's loop devices (bound or not), ascending.
absl::StatusOr<std::vector<int>> LoopDeviceNumbers();

// True while loop device `number` is bound to a file (its sysfs loop/ group exists).
bool LoopDeviceBound(int number);

// What holds loop device `number` exclusively, in words for an error message: its
// device-mapper holders by name, else where it is mounted.
std::string LoopDeviceHolders(int number);

// The path, direct I/O state and logical block size of bound loop device `number`;
// NOT_FOUND when it is not bound.
absl::StatusOr<LoopDevice> DescribeLoopDevice(int number);

}  // namespace cloak::node
