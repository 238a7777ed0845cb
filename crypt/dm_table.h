#pragma once

// Live-table verification (invariant 4, second half): after activation the tables the
// kernel actually runs are read back and compared with what was asked for. Pure logic.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypt/block_devices.h"
#include "crypt/device_mapper.h"
#include "crypt/volume_record.h"

namespace cloak::crypt {

// The name cryptsetup gives the dm-integrity mapping below crypt mapping `name`.
std::string IntegrityMappingName(std::string_view name);

// The cipher string dm-crypt reports for a record's cipher and integrity mode:
// "aes-xts-plain64", "capi:authenc(hmac(sha256),xts(aes))-plain64", "capi:gcm(aes)-random".
std::string DmCipherFor(const VolumeRecord& record);

struct ExpectedMapping {
  std::string cipher;  // as dm-crypt reports it (DmCipherFor)
  std::uint32_t key_bytes = 0;
  std::uint32_t sector_size = 0;
  bool allow_discards = false;
  // Where dm-crypt reads: the backing device at the data offset, or (with integrity)
  // the dm-integrity mapping at offset 0.
  DeviceNumber crypt_device;
  std::uint64_t crypt_offset_sectors = 0;
  // Size of the backing device in 512-byte sectors; 0 skips the crypt length check
  // (before a resize, when the mapping is still shorter than the grown device).
  std::uint64_t device_sectors = 0;
  // dm-integrity below dm-crypt; tag_size 0 means no integrity.
  std::uint32_t tag_size = 0;
  DeviceNumber integrity_device;
  std::uint64_t integrity_offset_sectors = 0;
  bool integrity_journal = true;  // 'J' mode; false: 'D' (no journal)
};

// Builds the expectation for a record on `device` (size `device_bytes`). With
// integrity, `integrity_mapping` is the device number of the dm-integrity mapping.
ExpectedMapping ExpectedMappingFor(const VolumeRecord& record, DeviceNumber device,
                                   std::uint64_t device_bytes, DeviceNumber integrity_mapping,
                                   bool allow_discards, bool integrity_journal);

// OK when the crypt table is exactly one crypt target that matches `expected`;
// FAILED_PRECONDITION naming the first differing field ("crypt.cipher: ...") otherwise.
// `integrity_length` is the length of the integrity target (ignored without integrity).
absl::Status VerifyCryptTable(const std::vector<DmTarget>& table, const ExpectedMapping& expected,
                              std::uint64_t integrity_length = 0);

// OK when the integrity table is exactly one integrity target that matches `expected`
// and leaves tag computation to dm-crypt; FAILED_PRECONDITION ("integrity.tag_size: ...").
absl::Status VerifyIntegrityTable(const std::vector<DmTarget>& table,
                                  const ExpectedMapping& expected);

struct IntegrityCounters {
  std::uint64_t mismatches = 0;
  std::uint64_t provided_data_sectors = 0;
};
// Parses a dm-integrity status line: "<mismatches> <provided sectors> <recalc|->".
absl::StatusOr<IntegrityCounters> ParseIntegrityStatus(std::string_view params);

// "253:4" → {253, 4}.
absl::StatusOr<DeviceNumber> ParseDeviceNumber(std::string_view text);

}  // namespace cloak::crypt
