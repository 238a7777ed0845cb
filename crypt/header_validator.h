#pragma once

// The LUKS2 header policy (invariant 4): a header read from a device is hostile input and
// is accepted only when it describes exactly the volume in the key service's record.
// Pure logic: the caller reads the header (Cryptsetup::ReadHeader) and passes it here.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "crypt/volume_record.h"

namespace cloak::crypt {

// What libcryptsetup reports about a loaded header, next to its JSON metadata. The
// validator cross-checks these against the record too, so that a disagreement between
// the JSON text and libcryptsetup's own parse of it is caught.
struct HeaderFacts {
  std::string type;                       // crypt_get_type: "LUKS2"
  std::string label;                      // crypt_get_label
  std::string subsystem;                  // crypt_get_subsystem
  std::uint64_t metadata_size = 0;        // crypt_get_metadata_size: one header copy
  std::uint64_t keyslots_size = 0;        // crypt_get_metadata_size: keyslots area
  std::string cipher;                     // crypt_get_cipher: "aes"
  std::string cipher_mode;                // crypt_get_cipher_mode: "xts-plain64"
  std::uint32_t volume_key_bytes = 0;     // crypt_get_volume_key_size
  std::uint32_t sector_size = 0;          // crypt_get_sector_size
  std::uint64_t data_offset_sectors = 0;  // crypt_get_data_offset, 512-byte sectors
  std::string integrity;                  // crypt_get_integrity_info: "" or "hmac(sha256)"
  std::uint32_t integrity_tag_size = 0;   // crypt_get_integrity_info
  std::uint32_t persistent_flags = 0;     // CRYPT_FLAGS_ACTIVATION
  std::uint32_t requirement_flags = 0;    // CRYPT_FLAGS_REQUIREMENTS

  friend bool operator==(const HeaderFacts&, const HeaderFacts&) = default;
};

// The LUKS2 segment "integrity.type" and libcryptsetup integrity name for a mode:
// "" (none), "hmac(sha256)", "aead".
std::string_view LuksIntegrityName(IntegrityMode mode);

// OK when `metadata_json` (crypt_dump_json output) and `facts` match `record` exactly.
// Otherwise FAILED_PRECONDITION whose message names the first mismatching field by its
// JSON path, e.g. `segments.0.encryption: "cipher_null-ecb" != "aes-xts-plain64"`;
// libcryptsetup's facts are named `luks2.<name>`. Checks, in order: the JSON shape; config
// (sizes, no flags, no requirements); exactly one crypt segment; exactly one keyslot;
// no tokens; exactly one digest binding keyslot 0 to segment 0; then the facts.
absl::Status ValidateLuks2Header(std::string_view metadata_json, const HeaderFacts& facts,
                                 const VolumeRecord& record);

}  // namespace cloak::crypt
