#pragma once

// BlockDevices: probing, sizing and writing block devices (and image files).
// block_devices_impl.cc is the only file that includes <blkid/blkid.h>. Thread-safe.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::crypt {

struct DeviceNumber {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  friend bool operator==(const DeviceNumber&, const DeviceNumber&) = default;
};

// Sequential writer over one open device. Not thread-safe.
class BlockWriter {
 public:
  virtual ~BlockWriter() = default;
  // The size of the device in bytes.
  virtual std::uint64_t size() const = 0;
  // Writes `data` at `offset` (both multiples of 4096); errors name the device.
  virtual absl::Status Write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
  // Flushes written data to stable storage.
  virtual absl::Status Flush() = 0;
};

class BlockDevices {
 public:
  virtual ~BlockDevices() = default;
  // The signatures libblkid finds (superblocks and partition tables), e.g. {"ext4"} or
  // {"crypto_LUKS"}; empty for a blank device. NOT_FOUND when `path` does not exist.
  virtual absl::StatusOr<std::vector<std::string>> ProbeSignatures(const std::string& path) = 0;
  // The device number of block device `path`; FAILED_PRECONDITION when it is not a block
  // device (an image file must be attached to a loop device first).
  virtual absl::StatusOr<DeviceNumber> Number(const std::string& path) = 0;
  // Size in bytes of a block device or regular file.
  virtual absl::StatusOr<std::uint64_t> SizeBytes(const std::string& path) = 0;
  // Opens `path` for direct, synchronous-on-Flush writes.
  virtual absl::StatusOr<std::unique_ptr<BlockWriter>> OpenWriter(const std::string& path) = 0;
};

}  // namespace cloak::crypt
