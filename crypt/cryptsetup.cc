#include "crypt/cryptsetup.h"

namespace cloak::crypt {

FormatSpec FormatSpecFor(const VolumeRecord& record) {
  FormatSpec spec;
  // "aes-xts-plain64" → "aes" + "xts-plain64"; "aes-gcm-random" → "aes" + "gcm-random".
  const std::size_t dash = record.cipher.find('-');
  spec.cipher = record.cipher.substr(0, dash);
  spec.cipher_mode = dash == std::string::npos ? "" : record.cipher.substr(dash + 1);
  spec.integrity = std::string(LuksIntegrityName(record.integrity));
  spec.sector_size = record.sector_size;
  spec.data_offset_sectors = record.data_offset_sectors();
  spec.metadata_size = record.metadata_size_bytes;
  spec.keyslots_size = record.keyslots_size_bytes;
  spec.label = record.label;
  spec.subsystem = record.subsystem;
  spec.pbkdf_hash = record.keyslot_hash;
  spec.pbkdf_iterations = record.keyslot_iterations;
  spec.keyslot_cipher = record.keyslot_area_cipher;
  spec.keyslot_key_bytes = record.keyslot_area_key_size_bits / 8;
  return spec;
}

}  // namespace cloak::crypt
