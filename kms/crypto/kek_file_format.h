#pragma once

// The on-disk format of a FileKekProvider's KEK file (all integers big-endian):
//
//   offset   size  field
//   0        8     magic "CLOAKKEK"
//   8        1     format version, 0x01
//   9        4     entry count N, 1..1024
//   13       37*N  entries, versions strictly ascending:
//                    u32 KEK version (>= 1) | u8 state (0x01 active, 0x02 retired) |
//                    32-byte AES-256 key
//   13+37N   32    SHA-256 of every preceding byte
//
// At least one entry is active. Parsing is strict: any other length, magic, version,
// state, ordering or checksum is refused. The checksum catches truncation and bit rot;
// the file's protection against people is its 0600 mode and its owner.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/kek_provider.h"

namespace cloak::kms {

struct KekEntry {
  std::uint32_t version = 0;
  KekState state = KekState::kActive;
  SecretBytes key;  // 32 bytes
};

inline constexpr std::size_t kMaxKekEntries = 1024;

// Parses a KEK file image. INVALID_ARGUMENT naming the first violation (the message
// never contains key bytes). Thread-safe.
absl::StatusOr<std::vector<KekEntry>> ParseKekFile(std::span<const std::uint8_t> contents);

// The file image of `entries`, in locked memory. INVALID_ARGUMENT when the entries break
// the rules that ParseKekFile enforces. Thread-safe.
absl::StatusOr<SecretBytes> SerializeKekFile(const std::vector<KekEntry>& entries);

}  // namespace cloak::kms
