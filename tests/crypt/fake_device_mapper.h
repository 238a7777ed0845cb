#pragma once

// FakeDeviceMapper: an in-memory device-mapper table for unit tests.

#include <map>
#include <string>
#include <vector>

#include "crypt/device_mapper.h"
#include "fmt/format.h"

namespace cloak::crypt::testing {

class FakeDeviceMapper final : public DeviceMapper {
 public:
  struct Device {
    DmDeviceInfo info;
    std::vector<DmTarget> table;
    std::vector<DmTarget> status;
  };

  // Adds (or replaces) device `name` with the next free minor number under major 253.
  Device& Add(const std::string& name, std::vector<DmTarget> table,
              std::vector<DmTarget> status = {}) {
    Device& device = devices_[name];
    device.info.major = 253;
    device.info.minor = next_minor_++;
    device.table = std::move(table);
    device.status = std::move(status);
    return device;
  }
  Device* Find(const std::string& name) {
    auto it = devices_.find(name);
    return it == devices_.end() ? nullptr : &it->second;
  }
  bool Has(const std::string& name) const { return devices_.contains(name); }
  std::size_t size() const { return devices_.size(); }

  absl::StatusOr<DmDeviceInfo> Info(const std::string& name) override {
    if (Device* d = Find(name)) return d->info;
    return NotFound(name);
  }
  absl::StatusOr<std::vector<DmTarget>> Table(const std::string& name) override {
    if (Device* d = Find(name)) return d->table;
    return NotFound(name);
  }
  absl::StatusOr<std::vector<DmTarget>> Status(const std::string& name) override {
    if (Device* d = Find(name)) return d->status;
    return NotFound(name);
  }
  absl::Status Remove(const std::string& name) override {
    Device* d = Find(name);
    if (d == nullptr) return NotFound(name);
    if (d->info.open_count > 0) return absl::UnavailableError(name + " is busy");
    devices_.erase(name);
    return absl::OkStatus();
  }
  absl::Status CreateReadOnlyLinear(const std::string& name, std::uint32_t source_major,
                                    std::uint32_t source_minor, std::uint64_t sectors) override {
    if (Has(name)) return absl::AlreadyExistsError(name + " exists");
    Device& device = Add(name, {LinearTarget(source_major, source_minor, sectors)});
    device.info.read_only = true;
    return absl::OkStatus();
  }
  absl::Status ReloadReadOnlyLinear(const std::string& name, std::uint32_t source_major,
                                    std::uint32_t source_minor, std::uint64_t sectors) override {
    Device* d = Find(name);
    if (d == nullptr) return NotFound(name);
    d->table = {LinearTarget(source_major, source_minor, sectors)};
    d->info.read_only = true;
    return absl::OkStatus();
  }

 private:
  static DmTarget LinearTarget(std::uint32_t major, std::uint32_t minor, std::uint64_t sectors) {
    return DmTarget{0, sectors, "linear", fmt::format("{}:{} 0", major, minor)};
  }
  static absl::Status NotFound(const std::string& name) {
    return absl::NotFoundError(fmt::format("device-mapper device {} does not exist", name));
  }

  std::map<std::string, Device> devices_;
  std::uint32_t next_minor_ = 0;
};

}  // namespace cloak::crypt::testing
