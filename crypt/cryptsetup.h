#pragma once

// Cryptsetup: Cloak's boundary with libcryptsetup. One real implementation
// (cryptsetup_impl.cc, the only file that includes <libcryptsetup.h>) and an in-memory
// fake for unit tests (tests/crypt/fake_cryptsetup.h). Methods are safe to call from
// several threads for different devices; callers serialise work on one volume.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "crypt/header_validator.h"
#include "crypt/volume_record.h"

namespace cloak::crypt {

// Everything libcryptsetup needs to write a header; derived from a VolumeRecord.
struct FormatSpec {
  std::string cipher;       // "aes"
  std::string cipher_mode;  // "xts-plain64", "gcm-random"
  std::string integrity;    // "", "hmac(sha256)", "aead"
  std::uint32_t sector_size = 0;
  std::uint64_t data_offset_sectors = 0;  // 512-byte sectors
  std::uint64_t metadata_size = 0;
  std::uint64_t keyslots_size = 0;
  std::string label;
  std::string subsystem;
  std::string pbkdf_hash;  // keyslot PBKDF2 hash
  std::uint32_t pbkdf_iterations = 0;
  std::string keyslot_cipher;  // keyslot area encryption, "aes-xts-plain64"
  std::uint32_t keyslot_key_bytes = 0;

  friend bool operator==(const FormatSpec&, const FormatSpec&) = default;
};

// The FormatSpec that produces a header matching `record`.
FormatSpec FormatSpecFor(const VolumeRecord& record);

// A header as read from a device, through one crypt_load.
struct HeaderSnapshot {
  std::string metadata_json;  // crypt_dump_json; carries no key material
  HeaderFacts facts;
};

struct ActivateOptions {
  bool allow_discards = false;
  // dm-integrity without its journal: only for the one-off tag initialisation pass.
  bool integrity_no_journal = false;
};

// Runs on the header loaded for an activation, before the key is handed to the kernel.
using HeaderCheck = std::function<absl::Status(const HeaderSnapshot&)>;

class Cryptsetup {
 public:
  virtual ~Cryptsetup() = default;

  // Writes a LUKS2 header per `spec` with `volume_key` as the volume key and one keyslot
  // (id 0) under `keyslot_passphrase`; with integrity, also formats the dm-integrity
  // superblock (needs device-mapper). Does not probe for signatures: the caller does.
  // Errors name the device; INVALID_ARGUMENT for a bad spec.
  virtual absl::Status Format(const std::string& device, const FormatSpec& spec,
                              const SecretBytes& volume_key,
                              const SecretBytes& keyslot_passphrase) = 0;

  // Loads the LUKS2 header of `device`. NOT_FOUND when the device holds no LUKS header,
  // FAILED_PRECONDITION when it holds a LUKS1 header or one libcryptsetup refuses.
  virtual absl::StatusOr<HeaderSnapshot> ReadHeader(const std::string& device) = 0;

  // OK when `volume_key` matches the header's digest; PERMISSION_DENIED when it does not.
  virtual absl::Status VerifyVolumeKey(const std::string& device,
                                       const SecretBytes& volume_key) = 0;

  // Loads the header, runs `check` on it (its error is returned unchanged), then
  // activates mapping `name` with `volume_key` through the kernel keyring, with the
  // read and write workqueues bypassed. PERMISSION_DENIED for a wrong key,
  // ALREADY_EXISTS when `name` is taken.
  virtual absl::Status Activate(const std::string& device, const std::string& name,
                                const SecretBytes& volume_key, const ActivateOptions& options,
                                const HeaderCheck& check) = 0;

  // Removes mapping `name` and the dm-integrity mapping below it. NOT_FOUND when absent,
  // UNAVAILABLE when it is busy (mounted or open).
  virtual absl::Status Deactivate(const std::string& name) = 0;

  // Grows active mapping `name` (no integrity) to the size of its device.
  // `volume_key` reloads the key into the keyring for the table reload.
  virtual absl::Status Resize(const std::string& name, const SecretBytes& volume_key) = 0;
};

}  // namespace cloak::crypt
