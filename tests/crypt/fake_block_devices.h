#pragma once

// FakeBlockDevices: block devices as in-memory descriptions for unit tests.

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypt/block_devices.h"
#include "fmt/format.h"

namespace cloak::crypt::testing {

class FakeBlockDevices final : public BlockDevices {
 public:
  struct Device {
    DeviceNumber number;
    std::uint64_t size = 0;
    std::vector<std::string> signatures;
    std::uint64_t bytes_written = 0;
    std::uint64_t lowest_write = UINT64_MAX;
    std::uint64_t highest_write_end = 0;
    bool flushed = false;
    bool fail_writes = false;
  };

  Device& Add(const std::string& path, DeviceNumber number, std::uint64_t size) {
    Device& device = devices_[path];
    device.number = number;
    device.size = size;
    return device;
  }
  Device& at(const std::string& path) { return devices_.at(path); }

  absl::StatusOr<std::vector<std::string>> ProbeSignatures(const std::string& path) override {
    ASSIGN_OR_RETURN(Device * d, Find(path));
    return d->signatures;
  }
  absl::StatusOr<DeviceNumber> Number(const std::string& path) override {
    ASSIGN_OR_RETURN(Device * d, Find(path));
    return d->number;
  }
  absl::StatusOr<std::uint64_t> SizeBytes(const std::string& path) override {
    ASSIGN_OR_RETURN(Device * d, Find(path));
    return d->size;
  }
  absl::StatusOr<std::unique_ptr<BlockWriter>> OpenWriter(const std::string& path) override {
    ASSIGN_OR_RETURN(Device * d, Find(path));
    return std::unique_ptr<BlockWriter>(new Writer(*d));
  }

 private:
  class Writer final : public BlockWriter {
   public:
    explicit Writer(Device& device) : device_(device) {}
    std::uint64_t size() const override { return device_.size; }
    absl::Status Write(std::uint64_t offset, std::span<const std::uint8_t> data) override {
      if (device_.fail_writes) return absl::DataLossError("injected write error");
      if (offset + data.size() > device_.size) return absl::OutOfRangeError("write past the end");
      for (std::uint8_t byte : data) {
        if (byte != 0) return absl::InternalError("the fake expects zeros only");
      }
      device_.bytes_written += data.size();
      device_.lowest_write = std::min<std::uint64_t>(device_.lowest_write, offset);
      device_.highest_write_end =
          std::max<std::uint64_t>(device_.highest_write_end, offset + data.size());
      return absl::OkStatus();
    }
    absl::Status Flush() override {
      device_.flushed = true;
      return absl::OkStatus();
    }

   private:
    Device& device_;
  };

  absl::StatusOr<Device*> Find(const std::string& path) {
    auto it = devices_.find(path);
    if (it == devices_.end()) return absl::NotFoundError(path + " does not exist");
    return &it->second;
  }

  std::map<std::string, Device> devices_;
};

}  // namespace cloak::crypt::testing
