#pragma once

#include <memory>

#include "crypt/device_mapper.h"

namespace cloak::crypt {

// The libdevmapper implementation of DeviceMapper.
std::unique_ptr<DeviceMapper> NewLibDeviceMapper();

}  // namespace cloak::crypt
