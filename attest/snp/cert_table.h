#pragma once

// The host-provided certificate table of an extended report (GHCB specification,
// SNP_GET_EXT_REPORT; configfs-tsm's auxblob): entries of GUID (16 bytes, RFC 4122 byte
// order) + offset (u32 LE) + length (u32 LE), ended by an all-zero entry, then the
// certificates. Offsets count from the start of the table.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::attest::snp {

using Guid = std::array<std::uint8_t, 16>;

// GUIDs of the GHCB specification's certificate table.
inline constexpr Guid kVcekGuid = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                   0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
inline constexpr Guid kVlekGuid = {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                                   0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};
inline constexpr Guid kAskGuid = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                  0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
inline constexpr Guid kArkGuid = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                  0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};

// The certificates found in a table (DER, or PEM as some hosts store them); empty when
// absent. Entries with other GUIDs (VLEK, CRLs, vendor data) are skipped.
struct SnpCertTable {
  std::string vcek;
  std::string ask;
  std::string ark;
};

inline constexpr std::size_t kMaxCertTableSize = 1 << 20;  // far above any real table

// Parses a table. An empty input gives an empty table. UNAUTHENTICATED names the entry
// for a table without terminator, an entry outside the buffer, a zero-length or duplicate
// VCEK/ASK/ARK entry, or a table over kMaxCertTableSize.
absl::StatusOr<SnpCertTable> ParseCertTable(std::span<const std::uint8_t> bytes);

struct CertTableEntry {
  Guid guid;
  std::string data;
};

// Builds a table holding `entries` in order (what a host would hand the guest).
std::vector<std::uint8_t> BuildCertTable(const std::vector<CertTableEntry>& entries);

}  // namespace cloak::attest::snp
