#pragma once

// Canonical encodings of "which key is this": the associated data that binds a wrapped
// DEK to its volume and key version, and the HPKE info that binds a released DEK to the
// same pair. Both are injective: a domain label, then the volume id with a 4-byte
// big-endian length prefix, then the 4-byte big-endian key version. No two (volume id,
// key version) pairs encode alike, and a wrap AAD never equals a release info.

#include <cstdint>
#include <string_view>
#include <vector>

namespace cloak::kms {

// "cloak-wrap-v1" || u32 len(volume_id) || volume_id || u32 key_version.
std::vector<std::uint8_t> WrapAad(std::string_view volume_id, std::uint32_t key_version);

// "cloak-dek-v1" || u32 len(volume_id) || volume_id || u32 key_version.
std::vector<std::uint8_t> ReleaseInfo(std::string_view volume_id, std::uint32_t key_version);

}  // namespace cloak::kms
