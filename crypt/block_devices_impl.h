#pragma once

#include <memory>

#include "crypt/block_devices.h"

namespace cloak::crypt {

// The libblkid / POSIX implementation of BlockDevices.
std::unique_ptr<BlockDevices> NewSystemBlockDevices();

}  // namespace cloak::crypt
