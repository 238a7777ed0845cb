// The only file that includes <libcryptsetup.h>.

#include "crypt/cryptsetup_impl.h"

#include <fcntl.h>
#include <libcryptsetup.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

// One crypt_device handle plus the error messages libcryptsetup logged on it.
class Handle {
 public:
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (cd_ != nullptr) crypt_free(cd_);
  }

  absl::Status Init(const std::string& device) {
    what_ = device;
    const int r = crypt_init(&cd_, device.c_str());
    if (r < 0) return Fail(r, "open device");
    crypt_set_log_callback(cd_, &Handle::Log, this);
    return absl::OkStatus();
  }

  absl::Status InitByName(const std::string& name) {
    what_ = "mapping " + name;
    const int r = crypt_init_by_name(&cd_, name.c_str());
    if (r < 0) return Fail(r, "find active device");
    crypt_set_log_callback(cd_, &Handle::Log, this);
    return absl::OkStatus();
  }

  crypt_device* get() const { return cd_; }

  // A status for libcryptsetup's negative errno `r`, naming the device and the step and
  // adding what libcryptsetup logged.
  absl::Status Fail(int r, std::string_view step) const {
    std::string context = fmt::format("{}: {}", what_, step);
    if (!errors_.empty()) context += fmt::format(" (libcryptsetup: {})", errors_);
    return ErrnoToStatus(-r, context);
  }

 private:
  static void Log(int level, const char* message, void* self) {
    if (level != CRYPT_LOG_ERROR || message == nullptr) return;
    auto* handle = static_cast<Handle*>(self);
    std::string line(message);
    while (!line.empty() && (line.back() == '\n' || line.back() == '.')) line.pop_back();
    if (!handle->errors_.empty()) handle->errors_ += "; ";
    handle->errors_ += line;
  }

  crypt_device* cd_ = nullptr;
  std::string what_;
  std::string errors_;
};

const char* NullIfEmpty(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

const char* KeyChars(const SecretBytes& key) {
  return reinterpret_cast<const char*>(key.SecretData());
}

// True when a LUKS magic (primary or secondary header) is on `device` at a LUKS2 header
// offset: a header libcryptsetup cannot load is still a header.
bool HasLuksMagic(const std::string& device) {
  const int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  constexpr std::array<off_t, 10> kOffsets = {0,      16384,  32768,   65536,   131072,
                                              262144, 524288, 1048576, 2097152, 4194304};
  bool found = false;
  for (off_t offset : kOffsets) {
    char magic[6];
    if (pread(fd, magic, sizeof(magic), offset) != sizeof(magic)) break;
    found =
        std::memcmp(magic, "LUKS\xba\xbe", 6) == 0 || std::memcmp(magic, "SKUL\xba\xbe", 6) == 0;
    if (found) break;
  }
  close(fd);
  return found;
}

absl::StatusOr<HeaderSnapshot> Snapshot(const Handle& h, const std::string& device) {
  HeaderSnapshot snapshot;
  crypt_device* cd = h.get();
  const char* json = nullptr;
  if (int r = crypt_dump_json(cd, &json, 0); r < 0 || json == nullptr) {
    return h.Fail(r < 0 ? r : -EINVAL, "read LUKS2 JSON metadata");
  }
  snapshot.metadata_json = json;
  HeaderFacts& f = snapshot.facts;
  auto text = [](const char* s) { return s == nullptr ? std::string() : std::string(s); };
  f.type = text(crypt_get_type(cd));
  f.label = text(crypt_get_label(cd));
  f.subsystem = text(crypt_get_subsystem(cd));
  if (int r = crypt_get_metadata_size(cd, &f.metadata_size, &f.keyslots_size); r < 0) {
    return h.Fail(r, "read LUKS2 metadata size");
  }
  f.cipher = text(crypt_get_cipher(cd));
  f.cipher_mode = text(crypt_get_cipher_mode(cd));
  f.volume_key_bytes = static_cast<std::uint32_t>(std::max(0, crypt_get_volume_key_size(cd)));
  f.sector_size = static_cast<std::uint32_t>(std::max(0, crypt_get_sector_size(cd)));
  f.data_offset_sectors = crypt_get_data_offset(cd);
  crypt_params_integrity integrity{};
  if (crypt_get_integrity_info(cd, &integrity) == 0) {
    f.integrity = text(integrity.integrity);
    f.integrity_tag_size = integrity.tag_size;
  }
  if (int r = crypt_persistent_flags_get(cd, CRYPT_FLAGS_ACTIVATION, &f.persistent_flags); r < 0) {
    return h.Fail(r, "read persistent flags");
  }
  if (int r = crypt_persistent_flags_get(cd, CRYPT_FLAGS_REQUIREMENTS, &f.requirement_flags);
      r < 0) {
    return h.Fail(r, "read requirement flags");
  }
  (void)device;
  return snapshot;
}

absl::Status Load(Handle& h, const std::string& device) {
  RETURN_IF_ERROR(h.Init(device));
  const int r = crypt_load(h.get(), CRYPT_LUKS2, nullptr);
  if (r == 0) return absl::OkStatus();
  if (!HasLuksMagic(device)) {
    return absl::NotFoundError(fmt::format("{}: no LUKS2 header", device));
  }
  absl::Status failed = h.Fail(r, "load LUKS2 header");
  return absl::FailedPreconditionError(
      fmt::format("{}; the device carries a LUKS header that libcryptsetup refuses",
                  std::string(failed.message())));
}

class LibCryptsetup final : public Cryptsetup {
 public:
  absl::Status Format(const std::string& device, const FormatSpec& spec,
                      const SecretBytes& volume_key,
                      const SecretBytes& keyslot_passphrase) override {
    Handle h;
    RETURN_IF_ERROR(h.Init(device));
    crypt_device* cd = h.get();
    crypt_pbkdf_type pbkdf{};
    pbkdf.type = CRYPT_KDF_PBKDF2;
    pbkdf.hash = spec.pbkdf_hash.c_str();
    pbkdf.iterations = spec.pbkdf_iterations;
    pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;  // the input has full entropy (DESIGN §5)
    if (int r = crypt_set_pbkdf_type(cd, &pbkdf); r < 0) return h.Fail(r, "set PBKDF");
    if (int r = crypt_set_data_offset(cd, spec.data_offset_sectors); r < 0) {
      return h.Fail(r, "set data offset");
    }
    if (int r = crypt_set_metadata_size(cd, spec.metadata_size, spec.keyslots_size); r < 0) {
      return h.Fail(r, "set metadata size");
    }
    crypt_params_luks2 params{};
    params.pbkdf = &pbkdf;
    params.integrity = NullIfEmpty(spec.integrity);
    params.sector_size = spec.sector_size;
    params.label = NullIfEmpty(spec.label);
    params.subsystem = NullIfEmpty(spec.subsystem);
    if (int r = crypt_format(cd, CRYPT_LUKS2, spec.cipher.c_str(), spec.cipher_mode.c_str(),
                             nullptr, KeyChars(volume_key), volume_key.size(), &params);
        r < 0) {
      return h.Fail(r, "format LUKS2");
    }
    // libcryptsetup refuses to set a keyslot cipher on a device with integrity tags (the
    // keyslot is already authenticated by its digest) and then uses its built-in default,
    // aes-xts-plain64 with a 512-bit key. That is what every record asks for; the header
    // validator checks the result either way.
    if (spec.integrity.empty()) {
      if (int r =
              crypt_keyslot_set_encryption(cd, spec.keyslot_cipher.c_str(), spec.keyslot_key_bytes);
          r < 0) {
        return WipeWrittenHeader(h, spec, h.Fail(r, "set keyslot encryption"));
      }
    }
    if (int r = crypt_keyslot_add_by_volume_key(cd, 0, KeyChars(volume_key), volume_key.size(),
                                                KeyChars(keyslot_passphrase),
                                                keyslot_passphrase.size());
        r < 0) {
      return WipeWrittenHeader(h, spec, h.Fail(r, "add keyslot 0"));
    }
    return absl::OkStatus();
  }

  // A header without its keyslot opens nothing and would make every retry refuse the
  // device as "already formatted": zero what crypt_format wrote (the area was free, or
  // Format would not have been called) and return the original failure. The first MiB
  // after the data offset holds dm-integrity's superblock when the volume has one.
  static absl::Status WipeWrittenHeader(Handle& h, const FormatSpec& spec, absl::Status failure) {
    const std::uint64_t header_bytes = spec.data_offset_sectors * 512 + (1u << 20);
    if (int r = crypt_wipe(h.get(), nullptr, CRYPT_WIPE_ZERO, 0, header_bytes, 1 << 20, 0, nullptr,
                           nullptr);
        r < 0) {
      return absl::Status(
          failure.code(),
          fmt::format("{}; zeroing the partly written header also failed ({}): wipe the first "
                      "{} bytes before retrying",
                      std::string(failure.message()), std::strerror(-r), header_bytes));
    }
    return failure;
  }

  absl::StatusOr<HeaderSnapshot> ReadHeader(const std::string& device) override {
    Handle h;
    RETURN_IF_ERROR(Load(h, device));
    return Snapshot(h, device);
  }

  absl::Status VerifyVolumeKey(const std::string& device, const SecretBytes& volume_key) override {
    Handle h;
    RETURN_IF_ERROR(Load(h, device));
    const int r = crypt_volume_key_verify(h.get(), KeyChars(volume_key), volume_key.size());
    if (r == -EPERM) {
      return absl::PermissionDeniedError(
          fmt::format("{}: the volume key does not match the header's digest", device));
    }
    if (r < 0) return h.Fail(r, "verify volume key");
    return absl::OkStatus();
  }

  absl::Status Activate(const std::string& device, const std::string& name,
                        const SecretBytes& volume_key, const ActivateOptions& options,
                        const HeaderCheck& check) override {
    Handle h;
    RETURN_IF_ERROR(Load(h, device));
    // Validate the header this very handle will activate from.
    ASSIGN_OR_RETURN(HeaderSnapshot snapshot, Snapshot(h, device));
    RETURN_IF_ERROR(check(snapshot));
    crypt_device* cd = h.get();
    if (int r = crypt_volume_key_keyring(cd, 1); r < 0) return h.Fail(r, "enable kernel keyring");
    std::uint32_t flags = CRYPT_ACTIVATE_NO_READ_WORKQUEUE | CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
    if (options.allow_discards) flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
    if (options.integrity_no_journal) flags |= CRYPT_ACTIVATE_NO_JOURNAL;
    const int r = crypt_activate_by_volume_key(cd, name.c_str(), KeyChars(volume_key),
                                               volume_key.size(), flags);
    if (r == -EPERM) {
      return absl::PermissionDeniedError(
          fmt::format("{}: the volume key does not match the header's digest", device));
    }
    if (r == -EEXIST) {
      return absl::AlreadyExistsError(fmt::format("mapping {} already exists", name));
    }
    if (r < 0) return h.Fail(r, fmt::format("activate {}", name));
    return absl::OkStatus();
  }

  absl::Status Deactivate(const std::string& name) override {
    if (crypt_status(nullptr, name.c_str()) == CRYPT_INACTIVE) {
      return absl::NotFoundError(fmt::format("mapping {} is not active", name));
    }
    const int r = crypt_deactivate_by_name(nullptr, name.c_str(), 0);
    if (r == -ENODEV) return absl::NotFoundError(fmt::format("mapping {} is not active", name));
    if (r == -EBUSY) {
      return absl::UnavailableError(
          fmt::format("mapping {} is busy (mounted or open); unmount it first", name));
    }
    if (r < 0) return ErrnoToStatus(-r, fmt::format("deactivate {}", name));
    return absl::OkStatus();
  }

  absl::Status Resize(const std::string& name, const SecretBytes& volume_key) override {
    Handle h;
    RETURN_IF_ERROR(h.InitByName(name));
    crypt_device* cd = h.get();
    if (int r = crypt_volume_key_keyring(cd, 1); r < 0) return h.Fail(r, "enable kernel keyring");
    // With no name this only loads the volume key into the keyring for the table reload.
    if (int r = crypt_activate_by_volume_key(cd, nullptr, KeyChars(volume_key), volume_key.size(),
                                             CRYPT_ACTIVATE_KEYRING_KEY);
        r < 0) {
      return h.Fail(r, "load the volume key into the kernel keyring");
    }
    if (int r = crypt_resize(cd, name.c_str(), 0); r < 0) return h.Fail(r, "resize");
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Cryptsetup> NewLibCryptsetup() { return std::make_unique<LibCryptsetup>(); }

}  // namespace cloak::crypt
