#include "crypt/dm_table.h"

#include <charconv>
#include <set>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

absl::Status Mismatch(std::string_view field, std::string_view problem) {
  return absl::FailedPreconditionError(fmt::format("live table: {}: {}", field, problem));
}

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    const std::size_t end = text.find(' ', pos);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end;
    if (stop > pos) words.push_back(text.substr(pos, stop - pos));
    pos = stop;
  }
  return words;
}

absl::StatusOr<std::uint64_t> ParseUint(std::string_view field, std::string_view text) {
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Mismatch(field, fmt::format("\"{}\" is not a number", text));
  }
  return value;
}

std::string Show(DeviceNumber n) { return fmt::format("{}:{}", n.major, n.minor); }

absl::Status ExpectNumber(std::string_view field, std::uint64_t actual, std::uint64_t expected) {
  if (actual == expected) return absl::OkStatus();
  return Mismatch(field, fmt::format("{} != {}", actual, expected));
}

absl::StatusOr<const DmTarget*> SingleTarget(const std::vector<DmTarget>& table,
                                             std::string_view type) {
  if (table.size() != 1) {
    return Mismatch(type, fmt::format("{} targets, expected exactly one", table.size()));
  }
  if (table[0].type != type) {
    return Mismatch(fmt::format("{}.type", type),
                    fmt::format("\"{}\" != \"{}\"", table[0].type, type));
  }
  RETURN_IF_ERROR(ExpectNumber(fmt::format("{}.start", type), table[0].start, 0));
  return &table[0];
}

// The optional parameters after "<count>", which must match the count exactly.
absl::StatusOr<std::vector<std::string_view>> OptionalParams(
    std::string_view field, const std::vector<std::string_view>& words, std::size_t first) {
  std::vector<std::string_view> options;
  if (words.size() == first) return options;
  ASSIGN_OR_RETURN(std::uint64_t count, ParseUint(field, words[first]));
  if (count != words.size() - first - 1) {
    return Mismatch(field, fmt::format("declares {} optional parameters, has {}", count,
                                       words.size() - first - 1));
  }
  options.assign(words.begin() + static_cast<std::ptrdiff_t>(first) + 1, words.end());
  return options;
}

}  // namespace

std::string IntegrityMappingName(std::string_view name) { return fmt::format("{}_dif", name); }

std::string DmCipherFor(const VolumeRecord& record) {
  switch (record.integrity) {
    case IntegrityMode::kHmacSha256:
      return "capi:authenc(hmac(sha256),xts(aes))-plain64";
    case IntegrityMode::kAead:
      return "capi:gcm(aes)-random";
    case IntegrityMode::kNone:
      break;
  }
  return record.cipher;
}

ExpectedMapping ExpectedMappingFor(const VolumeRecord& record, DeviceNumber device,
                                   std::uint64_t device_bytes, DeviceNumber integrity_mapping,
                                   bool allow_discards, bool integrity_journal) {
  ExpectedMapping e;
  e.cipher = DmCipherFor(record);
  e.key_bytes = record.volume_key_bytes();
  e.sector_size = record.sector_size;
  e.allow_discards = allow_discards;
  e.device_sectors = device_bytes / 512;
  if (record.integrity == IntegrityMode::kNone) {
    e.crypt_device = device;
    e.crypt_offset_sectors = record.data_offset_sectors();
  } else {
    e.crypt_device = integrity_mapping;
    e.crypt_offset_sectors = 0;
    e.tag_size = record.integrity_tag_size_bytes;
    e.integrity_device = device;
    e.integrity_offset_sectors = record.data_offset_sectors();
    e.integrity_journal = integrity_journal;
  }
  return e;
}

absl::Status VerifyCryptTable(const std::vector<DmTarget>& table, const ExpectedMapping& e,
                              std::uint64_t integrity_length) {
  ASSIGN_OR_RETURN(const DmTarget* target, SingleTarget(table, "crypt"));
  const std::vector<std::string_view> w = Words(target->params);
  if (w.size() < 5) return Mismatch("crypt", "fewer than five parameters");
  if (w[0] != e.cipher) {
    return Mismatch("crypt.cipher", fmt::format("\"{}\" != \"{}\"", w[0], e.cipher));
  }
  // The key must be a kernel keyring reference ":<size>:logon:<description>".
  const std::string keyring_prefix = fmt::format(":{}:logon:", e.key_bytes);
  if (w[1].rfind(keyring_prefix, 0) != 0 || w[1].size() == keyring_prefix.size()) {
    return Mismatch("crypt.key", fmt::format("\"{}\" is not a {}-byte kernel keyring key",
                                             w[1].substr(0, 48), e.key_bytes));
  }
  ASSIGN_OR_RETURN(std::uint64_t iv_offset, ParseUint("crypt.iv_offset", w[2]));
  RETURN_IF_ERROR(ExpectNumber("crypt.iv_offset", iv_offset, 0));
  ASSIGN_OR_RETURN(DeviceNumber device, ParseDeviceNumber(w[3]));
  if (device != e.crypt_device) {
    return Mismatch("crypt.device", fmt::format("{} != {}", Show(device), Show(e.crypt_device)));
  }
  ASSIGN_OR_RETURN(std::uint64_t offset, ParseUint("crypt.offset", w[4]));
  RETURN_IF_ERROR(ExpectNumber("crypt.offset", offset, e.crypt_offset_sectors));

  ASSIGN_OR_RETURN(std::vector<std::string_view> options, OptionalParams("crypt.options", w, 5));
  std::set<std::string, std::less<>> expected_options = {
      "no_read_workqueue", "no_write_workqueue", fmt::format("sector_size:{}", e.sector_size)};
  if (e.allow_discards) expected_options.insert("allow_discards");
  if (e.tag_size != 0) expected_options.insert(fmt::format("integrity:{}:aead", e.tag_size));
  std::set<std::string, std::less<>> actual_options(options.begin(), options.end());
  for (const std::string& option : expected_options) {
    if (!actual_options.contains(option)) {
      return Mismatch("crypt.options", fmt::format("\"{}\" is missing", option));
    }
  }
  for (const std::string& option : actual_options) {
    if (!expected_options.contains(option)) {
      return Mismatch("crypt.options", fmt::format("\"{}\" was not asked for", option));
    }
  }
  if (e.tag_size == 0) {
    if (e.device_sectors == 0) return absl::OkStatus();  // length not checked
    if (e.device_sectors < e.crypt_offset_sectors) {
      return Mismatch("crypt.length", "the device is smaller than the data offset");
    }
    return ExpectNumber("crypt.length", target->length, e.device_sectors - e.crypt_offset_sectors);
  }
  return ExpectNumber("crypt.length", target->length, integrity_length);
}

absl::Status VerifyIntegrityTable(const std::vector<DmTarget>& table, const ExpectedMapping& e) {
  ASSIGN_OR_RETURN(const DmTarget* target, SingleTarget(table, "integrity"));
  const std::vector<std::string_view> w = Words(target->params);
  if (w.size() < 4) return Mismatch("integrity", "fewer than four parameters");
  ASSIGN_OR_RETURN(DeviceNumber device, ParseDeviceNumber(w[0]));
  if (device != e.integrity_device) {
    return Mismatch("integrity.device",
                    fmt::format("{} != {}", Show(device), Show(e.integrity_device)));
  }
  ASSIGN_OR_RETURN(std::uint64_t offset, ParseUint("integrity.offset", w[1]));
  RETURN_IF_ERROR(ExpectNumber("integrity.offset", offset, e.integrity_offset_sectors));
  // dm-integrity prints "-" as the tag size when it is taken from the superblock.
  ASSIGN_OR_RETURN(std::uint64_t tag_size, ParseUint("integrity.tag_size", w[2]));
  RETURN_IF_ERROR(ExpectNumber("integrity.tag_size", tag_size, e.tag_size));
  const std::string_view mode = e.integrity_journal ? "J" : "D";
  if (w[3] != mode) return Mismatch("integrity.mode", fmt::format("\"{}\" != \"{}\"", w[3], mode));
  ASSIGN_OR_RETURN(std::vector<std::string_view> options,
                   OptionalParams("integrity.options", w, 4));
  bool block_size_seen = false;
  for (std::string_view option : options) {
    const std::string_view key = option.substr(0, option.find(':'));
    if (key == "block_size") {
      block_size_seen = true;
      if (option != fmt::format("block_size:{}", e.sector_size)) {
        return Mismatch("integrity.block_size",
                        fmt::format("\"{}\" != \"block_size:{}\"", option, e.sector_size));
      }
    } else if (key == "journal_sectors" || key == "interleave_sectors" || key == "buffer_sectors" ||
               key == "journal_watermark" || key == "commit_time" || key == "fix_padding" ||
               key == "fix_hmac" || key == "legacy_recalculate") {
      // Journal and buffer tuning: does not change what is stored or checked.
    } else {
      // internal_hash, journal_crypt, journal_mac, meta_device, recalculate,
      // allow_discards, sectors_per_bit, ... change who computes tags or where they live.
      return Mismatch("integrity.options", fmt::format("\"{}\" was not asked for", option));
    }
  }
  if (!block_size_seen && e.sector_size != 512) {
    return Mismatch("integrity.block_size", fmt::format("512 != {}", e.sector_size));
  }
  if (target->length + e.integrity_offset_sectors > e.device_sectors) {
    return Mismatch("integrity.length",
                    fmt::format("{} sectors at offset {} exceed the device ({} sectors)",
                                target->length, e.integrity_offset_sectors, e.device_sectors));
  }
  return absl::OkStatus();
}

absl::StatusOr<IntegrityCounters> ParseIntegrityStatus(std::string_view params) {
  const std::vector<std::string_view> w = Words(params);
  if (w.size() < 2) {
    return absl::InternalError(fmt::format("unexpected dm-integrity status \"{}\"", params));
  }
  IntegrityCounters counters;
  ASSIGN_OR_RETURN(counters.mismatches, ParseUint("integrity.status.mismatches", w[0]));
  ASSIGN_OR_RETURN(counters.provided_data_sectors, ParseUint("integrity.status.sectors", w[1]));
  return counters;
}

absl::StatusOr<DeviceNumber> ParseDeviceNumber(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Mismatch("device", fmt::format("\"{}\" is not major:minor", text));
  }
  ASSIGN_OR_RETURN(std::uint64_t major, ParseUint("device.major", text.substr(0, colon)));
  ASSIGN_OR_RETURN(std::uint64_t minor, ParseUint("device.minor", text.substr(colon + 1)));
  if (major > UINT32_MAX || minor > UINT32_MAX) return Mismatch("device", "number out of range");
  return DeviceNumber{static_cast<std::uint32_t>(major), static_cast<std::uint32_t>(minor)};
}

}  // namespace cloak::crypt
