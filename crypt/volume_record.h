#pragma once

// VolumeRecord: what the key service stores about one volume and hands to the node with
// its key. It is the authority on every LUKS2 parameter (DESIGN §4 step 3): the header
// on the device is checked against it field by field. The JSON schema is documented in
// docs/volume-record.md.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cloak::crypt {

enum class IntegrityMode { kNone, kHmacSha256, kAead };
enum class VolumeState { kCreated, kFormatted };

// "none", "hmac-sha256", "aead".
std::string_view IntegrityModeName(IntegrityMode mode);
absl::StatusOr<IntegrityMode> ParseIntegrityMode(std::string_view name);
// "created", "formatted".
std::string_view VolumeStateName(VolumeState state);

// Fixed conventions of the current schema.
inline constexpr int kVolumeRecordVersion = 1;
inline constexpr std::string_view kLuksSubsystem = "cloak";
inline constexpr std::size_t kMaxVolumeIdLength = 47;  // fits the LUKS2 label field
inline constexpr std::uint64_t kLuksBinaryHeaderSize = 4096;

struct VolumeRecord {
  int version = kVolumeRecordVersion;
  std::string volume_id;
  std::uint32_t key_version = 1;
  VolumeState state = VolumeState::kCreated;

  // Header identity and layout ("header" object).
  std::string label;  // always equal to volume_id
  std::string subsystem{kLuksSubsystem};
  std::uint64_t metadata_size_bytes = 0;  // one header copy: binary header + JSON area
  std::uint64_t keyslots_size_bytes = 0;  // keyslots area between the copies and the data

  // The single data segment ("segment" object).
  std::string cipher;               // "aes-xts-plain64" or "aes-gcm-random"
  std::uint32_t key_size_bits = 0;  // volume key, integrity key included
  std::uint32_t sector_size = 0;
  std::uint64_t data_offset_bytes = 0;

  // "integrity" object. tag_size_bytes is 0 for kNone.
  IntegrityMode integrity = IntegrityMode::kNone;
  std::uint32_t integrity_tag_size_bytes = 0;

  // The single keyslot ("keyslot" object).
  std::string keyslot_kdf = "pbkdf2";
  std::string keyslot_hash = "sha256";
  std::uint32_t keyslot_iterations = 0;
  std::string keyslot_area_cipher;
  std::uint32_t keyslot_area_key_size_bits = 0;
  std::uint32_t keyslot_af_stripes = 4000;
  std::string keyslot_af_hash = "sha256";

  // The single volume-key digest ("digest" object).
  std::string digest_type = "pbkdf2";
  std::string digest_hash = "sha256";
  std::uint32_t digest_iterations = 0;

  std::uint32_t volume_key_bytes() const { return key_size_bits / 8; }
  std::uint64_t data_offset_sectors() const { return data_offset_bytes / 512; }

  friend bool operator==(const VolumeRecord&, const VolumeRecord&) = default;
};

// The DESIGN §5 defaults for a new volume: LUKS2, 4096-byte sectors, 16 MiB data offset,
// PBKDF2-SHA256 at the minimum iteration count, and per integrity mode
//   none:        aes-xts-plain64, 512-bit key
//   hmac-sha256: aes-xts-plain64 + hmac(sha256), 768-bit key, 32-byte tags
//   aead:        aes-gcm-random, 256-bit key, 28-byte tags (16 tag + 12 random IV)
// INVALID_ARGUMENT when `volume_id` cannot be a LUKS2 label (see CheckVolumeRecord).
absl::StatusOr<VolumeRecord> DefaultRecord(std::string_view volume_id, IntegrityMode integrity);

// OK when every field is in range and the fields agree with each other (cipher with
// integrity mode, key size with cipher, layout sizes add up). INVALID_ARGUMENT naming the
// first bad field by its JSON path otherwise.
absl::Status CheckVolumeRecord(const VolumeRecord& record);

// Strict parse: every field present with the right type, no unknown field, values checked
// by CheckVolumeRecord. INVALID_ARGUMENT naming the field otherwise.
absl::StatusOr<VolumeRecord> ParseVolumeRecord(std::string_view json_text);

// The canonical JSON form (keys sorted, two-space indent). ParseVolumeRecord accepts it.
std::string SerializeVolumeRecord(const VolumeRecord& record);

}  // namespace cloak::crypt
