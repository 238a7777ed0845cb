#pragma once

// DeviceMapper: read-only views of live device-mapper devices plus removal, over
// libdevmapper (device_mapper_impl.cc is the only file that includes <libdevmapper.h>).
// Thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::crypt {

// One line of a table or status: "<start> <length> <type> <params>".
struct DmTarget {
  std::uint64_t start = 0;   // 512-byte sectors
  std::uint64_t length = 0;  // 512-byte sectors
  std::string type;          // "crypt", "integrity", ...
  // The target's parameters. For crypt tables the key field is redacted before it leaves
  // the implementation: keyring references are kept (":64:logon:cryptsetup:..."), a hex
  // key becomes "<hex:N>" with N its length in bytes.
  std::string params;

  friend bool operator==(const DmTarget&, const DmTarget&) = default;
};

struct DmDeviceInfo {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::int32_t open_count = 0;
  bool suspended = false;
  bool read_only = false;  // the table was loaded read-only: the kernel refuses writes
  std::string uuid;
};

class DeviceMapper {
 public:
  virtual ~DeviceMapper() = default;
  // The device `name`; NOT_FOUND when there is none.
  virtual absl::StatusOr<DmDeviceInfo> Info(const std::string& name) = 0;
  // The live table of `name` (keys redacted); NOT_FOUND when there is no such device.
  virtual absl::StatusOr<std::vector<DmTarget>> Table(const std::string& name) = 0;
  // The status lines of `name`; NOT_FOUND when there is no such device.
  virtual absl::StatusOr<std::vector<DmTarget>> Status(const std::string& name) = 0;
  // Removes `name`; NOT_FOUND when absent, UNAVAILABLE when busy.
  virtual absl::Status Remove(const std::string& name) = 0;
  // Creates `name` as a read-only linear mapping of the first `sectors` 512-byte sectors
  // of device `source_major`:`source_minor`; ALREADY_EXISTS when `name` exists.
  virtual absl::Status CreateReadOnlyLinear(const std::string& name, std::uint32_t source_major,
                                            std::uint32_t source_minor, std::uint64_t sectors) = 0;
  // Replaces the table of `name` with the same read-only linear mapping, now `sectors`
  // long, and makes it live; NOT_FOUND when `name` does not exist.
  virtual absl::Status ReloadReadOnlyLinear(const std::string& name, std::uint32_t source_major,
                                            std::uint32_t source_minor, std::uint64_t sectors) = 0;
};

// Replaces the key field (the second word) of a crypt target's parameters as described
// for DmTarget::params. Pure; the input is not copied before the key is replaced.
std::string RedactCryptKey(std::string_view crypt_params);

}  // namespace cloak::crypt
