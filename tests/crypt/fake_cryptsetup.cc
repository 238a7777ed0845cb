#include "tests/crypt/fake_cryptsetup.h"

#include "common/status.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace cloak::crypt::testing {
namespace {

using nlohmann::json;

constexpr const char* kSalt = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";  // 32 bytes

json MetadataFor(const FormatSpec& spec, std::size_t key_bytes) {
  const std::uint64_t area_size = (key_bytes * 4000 + 4095) / 4096 * 4096;
  json segment = {{"type", "crypt"},
                  {"offset", std::to_string(spec.data_offset_sectors * 512)},
                  {"size", "dynamic"},
                  {"iv_tweak", "0"},
                  {"encryption", fmt::format("{}-{}", spec.cipher, spec.cipher_mode)},
                  {"sector_size", spec.sector_size}};
  if (!spec.integrity.empty()) {
    segment["integrity"] = {
        {"type", spec.integrity}, {"journal_encryption", "none"}, {"journal_integrity", "none"}};
  }
  return {
      {"keyslots",
       {{"0",
         {{"type", "luks2"},
          {"key_size", key_bytes},
          {"af", {{"type", "luks1"}, {"stripes", 4000}, {"hash", "sha256"}}},
          {"area",
           {{"type", "raw"},
            {"offset", std::to_string(2 * spec.metadata_size)},
            {"size", std::to_string(area_size)},
            {"encryption", spec.keyslot_cipher},
            {"key_size", spec.keyslot_key_bytes}}},
          {"kdf",
           {{"type", "pbkdf2"},
            {"hash", spec.pbkdf_hash},
            {"iterations", spec.pbkdf_iterations},
            {"salt", kSalt}}}}}}},
      {"tokens", json::object()},
      {"segments", {{"0", segment}}},
      {"digests",
       {{"0",
         {{"type", "pbkdf2"},
          {"keyslots", {"0"}},
          {"segments", {"0"}},
          {"hash", "sha256"},
          {"iterations", 1000},
          {"salt", kSalt},
          {"digest", kSalt}}}}},
      {"config",
       {{"json_size", std::to_string(spec.metadata_size - 4096)},
        {"keyslots_size", std::to_string(spec.keyslots_size)}}},
  };
}

std::uint32_t TagSize(const std::string& integrity, const std::string& mode) {
  if (integrity == "hmac(sha256)") return 32;
  if (integrity == "aead" && mode == "gcm-random") return 28;
  return 0;
}

}  // namespace

absl::Status FakeCryptsetup::Format(const std::string& device, const FormatSpec& spec,
                                    const SecretBytes& volume_key,
                                    const SecretBytes& keyslot_passphrase) {
  calls.push_back("Format " + device);
  Volume volume;
  volume.header.metadata_json = MetadataFor(spec, volume_key.size()).dump();
  HeaderFacts& f = volume.header.facts;
  f.type = "LUKS2";
  f.label = spec.label;
  f.subsystem = spec.subsystem;
  f.metadata_size = spec.metadata_size;
  f.keyslots_size = spec.keyslots_size;
  f.cipher = spec.cipher;
  f.cipher_mode = spec.cipher_mode;
  f.volume_key_bytes = static_cast<std::uint32_t>(volume_key.size());
  f.sector_size = spec.sector_size;
  f.data_offset_sectors = spec.data_offset_sectors;
  f.integrity = spec.integrity;
  f.integrity_tag_size = TagSize(spec.integrity, spec.cipher_mode);
  volume.volume_key = SecretBytes::CopyFrom(volume_key.SecretSpan());
  volume.passphrase = SecretBytes::CopyFrom(keyslot_passphrase.SecretSpan());
  volumes[device] = std::move(volume);
  return absl::OkStatus();
}

absl::StatusOr<HeaderSnapshot> FakeCryptsetup::ReadHeader(const std::string& device) {
  calls.push_back("ReadHeader " + device);
  if (auto it = unreadable.find(device); it != unreadable.end()) return it->second;
  auto it = volumes.find(device);
  if (it == volumes.end()) return absl::NotFoundError(device + ": no LUKS2 header");
  return it->second.header;
}

absl::Status FakeCryptsetup::VerifyVolumeKey(const std::string& device,
                                             const SecretBytes& volume_key) {
  calls.push_back("VerifyVolumeKey " + device);
  auto it = volumes.find(device);
  if (it == volumes.end()) return absl::NotFoundError(device + ": no LUKS2 header");
  if (!(it->second.volume_key == volume_key)) {
    return absl::PermissionDeniedError(device + ": the volume key does not match the digest");
  }
  return absl::OkStatus();
}

absl::Status FakeCryptsetup::Activate(const std::string& device, const std::string& name,
                                      const SecretBytes& volume_key, const ActivateOptions& options,
                                      const HeaderCheck& check) {
  calls.push_back(fmt::format("Activate {} {}", device, name));
  ASSIGN_OR_RETURN(HeaderSnapshot header, ReadHeader(device));
  RETURN_IF_ERROR(check(header));
  RETURN_IF_ERROR(VerifyVolumeKey(device, volume_key));
  if (device_mapper_.Has(name)) return absl::AlreadyExistsError(name + " exists");
  ASSIGN_OR_RETURN(DeviceNumber number, devices_.Number(device));
  ASSIGN_OR_RETURN(std::uint64_t size, devices_.SizeBytes(device));
  const HeaderFacts& f = header.facts;
  const std::uint64_t data_sectors = size / 512 - f.data_offset_sectors;
  const std::string key = fmt::format(":{}:logon:cryptsetup:fake-{}-d0", volume_key.size(), name);
  std::string flags =
      fmt::format("sector_size:{} no_read_workqueue no_write_workqueue", f.sector_size);
  int flag_count = 3;
  if (options.allow_discards) {
    flags = "allow_discards " + flags;
    ++flag_count;
  }
  if (f.integrity.empty()) {
    device_mapper_.Add(
        name, {{0, data_sectors, "crypt",
                fmt::format("{}-{} {} 0 {}:{} {} {} {}", f.cipher, f.cipher_mode, key, number.major,
                            number.minor, f.data_offset_sectors, flag_count, flags)}});
  } else {
    const std::uint64_t provided = data_sectors - data_sectors / 16;  // room for tags
    auto& dif =
        device_mapper_.Add(name + "_dif",
                           {{0, provided, "integrity",
                             fmt::format("{}:{} {} {} {} 1 block_size:{}", number.major,
                                         number.minor, f.data_offset_sectors, f.integrity_tag_size,
                                         options.integrity_no_journal ? "D" : "J", f.sector_size)}},
                           {{0, provided, "integrity", fmt::format("0 {} -", provided)}});
    const std::string cipher = f.integrity == "aead"
                                   ? "capi:gcm(aes)-random"
                                   : "capi:authenc(hmac(sha256),xts(aes))-plain64";
    device_mapper_.Add(
        name, {{0, provided, "crypt",
                fmt::format("{} {} 0 {}:{} 0 {} integrity:{}:aead {}", cipher, key, dif.info.major,
                            dif.info.minor, flag_count + 1, f.integrity_tag_size, flags)}});
  }
  device_of[name] = device;
  if (after_activate) after_activate(name);
  return absl::OkStatus();
}

absl::Status FakeCryptsetup::Deactivate(const std::string& name) {
  calls.push_back("Deactivate " + name);
  RETURN_IF_ERROR(device_mapper_.Remove(name));
  if (device_mapper_.Has(name + "_dif")) return device_mapper_.Remove(name + "_dif");
  return absl::OkStatus();
}

absl::Status FakeCryptsetup::Resize(const std::string& name, const SecretBytes& volume_key) {
  calls.push_back("Resize " + name);
  FakeDeviceMapper::Device* mapping = device_mapper_.Find(name);
  if (mapping == nullptr) return absl::NotFoundError(name + " is not active");
  const std::string& device = device_of[name];
  RETURN_IF_ERROR(VerifyVolumeKey(device, volume_key));
  ASSIGN_OR_RETURN(std::uint64_t size, devices_.SizeBytes(device));
  mapping->table[0].length = size / 512 - volumes[device].header.facts.data_offset_sectors;
  return absl::OkStatus();
}

}  // namespace cloak::crypt::testing
