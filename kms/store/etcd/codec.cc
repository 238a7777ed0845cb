#include "kms/store/etcd/codec.h"

#include <cstdint>
#include <vector>

#include "fmt/format.h"
#include "kms/store/audit_chain.h"
#include "nlohmann/json.hpp"

namespace cloak::kms::etcd {
namespace {

using nlohmann::json;

constexpr int kFormat = 1;

std::string Hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0xf]);
  }
  return hex;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::Status Corrupt(std::string_view key, std::string_view problem) {
  return absl::InternalError(
      fmt::format("etcd key '{}' holds an unreadable value ({}); restore it from an etcd snapshot",
                  key, problem));
}

// Runs `decode` on the parsed object, turning any JSON type error into INTERNAL.
template <typename T, typename Fn>
absl::StatusOr<T> Decode(std::string_view value, std::string_view key, Fn&& decode) {
  json object = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) return Corrupt(key, "not a JSON object");
  try {
    if (object.at("format").get<int>() != kFormat) {
      return Corrupt(key, fmt::format("format {} is not {}; a newer key service wrote it",
                                      object.at("format").dump(), kFormat));
    }
    return decode(object);
  } catch (const json::exception& error) {
    return Corrupt(key, error.what());
  }
}

absl::StatusOr<std::vector<std::uint8_t>> FromHex(const json& value, std::string_view key,
                                                  std::string_view field) {
  std::string hex = value.get<std::string>();
  if (hex.size() % 2 != 0) return Corrupt(key, fmt::format("{} is not hex", field));
  std::vector<std::uint8_t> bytes(hex.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    int high = HexDigit(hex[2 * i]);
    int low = HexDigit(hex[2 * i + 1]);
    if (high < 0 || low < 0) return Corrupt(key, fmt::format("{} is not lower-case hex", field));
    bytes[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return bytes;
}

absl::StatusOr<AuditHash> HashFromHex(const json& value, std::string_view key,
                                      std::string_view field) {
  absl::StatusOr<std::vector<std::uint8_t>> bytes = FromHex(value, key, field);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<AuditHash> hash = AuditHashFromBytes(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!hash.ok()) return Corrupt(key, fmt::format("{} is not 32 bytes", field));
  return hash;
}

json StringMap(const std::map<std::string, std::string>& map) {
  json object = json::object();
  for (const auto& [name, value] : map) object[name] = value;
  return object;
}

std::map<std::string, std::string> ToStringMap(const json& object) {
  std::map<std::string, std::string> map;
  for (const auto& [name, value] : object.items()) map.emplace(name, value.get<std::string>());
  return map;
}

}  // namespace

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

KeyLayout::KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {
  if (prefix_.empty() || prefix_.back() != '/') prefix_ += '/';
}

std::string KeyLayout::Volume(std::string_view volume_id) const {
  return fmt::format("{}volumes/{}", prefix_, volume_id);
}
std::string KeyLayout::VolumesPrefix() const { return prefix_ + "volumes/"; }
std::string KeyLayout::Kek(std::uint32_t kek_version, std::string_view volume_id) const {
  return fmt::format("{}{}", KekPrefix(kek_version), volume_id);
}
std::string KeyLayout::KekPrefix(std::uint32_t kek_version) const {
  return fmt::format("{}kek/{:010}/", prefix_, kek_version);
}
std::string KeyLayout::KeksPrefix() const { return prefix_ + "kek/"; }

absl::StatusOr<std::uint32_t> KeyLayout::KekVersionOf(std::string_view key) const {
  std::string_view rest = key;
  std::string keks = KeksPrefix();
  std::uint64_t version = 0;
  bool ok =
      rest.starts_with(keks) && rest.size() > keks.size() + 11 && rest[keks.size() + 10] == '/';
  if (ok) {
    for (char c : rest.substr(keks.size(), 10)) {
      if (c < '0' || c > '9') ok = false;
      version = version * 10 + static_cast<std::uint64_t>(c - '0');
    }
  }
  if (!ok || version > UINT32_MAX) return Corrupt(key, "not a KEK index key");
  return static_cast<std::uint32_t>(version);
}

std::string KeyLayout::Audit(std::uint64_t sequence) const {
  return fmt::format("{}{:020}", AuditPrefix(), sequence);
}
std::string KeyLayout::AuditPrefix() const { return prefix_ + "audit/"; }
std::string KeyLayout::AuditHead() const { return prefix_ + "audit-head"; }
std::string KeyLayout::Rotation() const { return prefix_ + "rotation"; }
std::string KeyLayout::Policy(std::string_view name, std::int64_t version) const {
  return fmt::format("{}{:020}", PolicyPrefix(name), version);
}
std::string KeyLayout::PolicyPrefix(std::string_view name) const {
  // Policy names hold no '/', so one name's prefix never covers another's keys.
  return fmt::format("{}policies/{}/", prefix_, name);
}

std::string EncodeVolume(const Volume& volume) {
  json object = {
      {"format", kFormat},
      {"volume_id", volume.volume_id},
      {"record", volume.record_json},
      {"state", VolumeStateName(volume.state)},
      {"key_id", volume.key_id},
      {"key_version", volume.key_version},
      {"kek_version", volume.kek_version},
      {"wrapped_dek",
       Hex(volume.wrapped_dek.ciphertext().data(), volume.wrapped_dek.ciphertext().size())},
      {"labels", StringMap(volume.labels)},
      {"source_volume_id", volume.source_volume_id},
      {"created_at_us", absl::ToUnixMicros(volume.created_at)},
      {"updated_at_us", absl::ToUnixMicros(volume.updated_at)},
      {"revision", volume.revision},
  };
  return object.dump();
}

absl::StatusOr<Volume> DecodeVolume(std::string_view value, std::string_view key) {
  return Decode<Volume>(value, key, [&](const json& object) -> absl::StatusOr<Volume> {
    Volume volume;
    volume.volume_id = object.at("volume_id").get<std::string>();
    volume.record_json = object.at("record").get<std::string>();
    absl::StatusOr<VolumeState> state = ParseVolumeState(object.at("state").get<std::string>());
    if (!state.ok()) return Corrupt(key, std::string(state.status().message()));
    volume.state = *state;
    volume.key_id = object.at("key_id").get<std::string>();
    volume.key_version = object.at("key_version").get<std::uint32_t>();
    volume.kek_version = object.at("kek_version").get<std::uint32_t>();
    absl::StatusOr<std::vector<std::uint8_t>> wrapped =
        FromHex(object.at("wrapped_dek"), key, "wrapped_dek");
    if (!wrapped.ok()) return wrapped.status();
    volume.wrapped_dek = WrappedKey(*std::move(wrapped));
    if (volume.destroyed() != volume.wrapped_dek.empty()) {
      return Corrupt(key, "a destroyed volume must have no key and a live one must have one");
    }
    volume.labels = ToStringMap(object.at("labels"));
    volume.source_volume_id = object.at("source_volume_id").get<std::string>();
    volume.created_at = absl::FromUnixMicros(object.at("created_at_us").get<std::int64_t>());
    volume.updated_at = absl::FromUnixMicros(object.at("updated_at_us").get<std::int64_t>());
    volume.revision = object.at("revision").get<std::int64_t>();
    return volume;
  });
}

std::string EncodeAuditEntry(const AuditEntry& entry) {
  json object = {
      {"format", kFormat},
      {"sequence", entry.sequence},
      {"time_us", absl::ToUnixMicros(entry.time)},
      {"actor", entry.event.actor},
      {"action", entry.event.action},
      {"volume_id", entry.event.volume_id},
      {"outcome", entry.event.outcome},
      {"details", StringMap(entry.event.details)},
      {"prev_hash", Hex(entry.prev_hash.data(), entry.prev_hash.size())},
      {"hash", Hex(entry.hash.data(), entry.hash.size())},
  };
  return object.dump();
}

absl::StatusOr<AuditEntry> DecodeAuditEntry(std::string_view value, std::string_view key) {
  return Decode<AuditEntry>(value, key, [&](const json& object) -> absl::StatusOr<AuditEntry> {
    AuditEntry entry;
    entry.sequence = object.at("sequence").get<std::uint64_t>();
    entry.time = absl::FromUnixMicros(object.at("time_us").get<std::int64_t>());
    entry.event.actor = object.at("actor").get<std::string>();
    entry.event.action = object.at("action").get<std::string>();
    entry.event.volume_id = object.at("volume_id").get<std::string>();
    entry.event.outcome = object.at("outcome").get<std::string>();
    entry.event.details = ToStringMap(object.at("details"));
    absl::StatusOr<AuditHash> prev_hash = HashFromHex(object.at("prev_hash"), key, "prev_hash");
    if (!prev_hash.ok()) return prev_hash.status();
    absl::StatusOr<AuditHash> hash = HashFromHex(object.at("hash"), key, "hash");
    if (!hash.ok()) return hash.status();
    entry.prev_hash = *prev_hash;
    entry.hash = *hash;
    return entry;
  });
}

std::string EncodeAuditHead(const AuditHead& head) {
  json object = {{"format", kFormat},
                 {"sequence", head.sequence},
                 {"hash", Hex(head.hash.data(), head.hash.size())}};
  return object.dump();
}

absl::StatusOr<AuditHead> DecodeAuditHead(std::string_view value, std::string_view key) {
  return Decode<AuditHead>(value, key, [&](const json& object) -> absl::StatusOr<AuditHead> {
    AuditHead head;
    head.sequence = object.at("sequence").get<std::uint64_t>();
    absl::StatusOr<AuditHash> hash = HashFromHex(object.at("hash"), key, "hash");
    if (!hash.ok()) return hash.status();
    head.hash = *hash;
    return head;
  });
}

std::string EncodeRotation(const RotationProgress& progress) {
  json object = {
      {"format", kFormat},
      {"target_kek_version", progress.target_kek_version},
      {"done", progress.done},
      {"total", progress.total},
      {"state", RotationStateName(progress.state)},
      {"started_at_us", absl::ToUnixMicros(progress.started_at)},
      {"updated_at_us", absl::ToUnixMicros(progress.updated_at)},
      {"revision", progress.revision},
  };
  return object.dump();
}

absl::StatusOr<RotationProgress> DecodeRotation(std::string_view value, std::string_view key) {
  return Decode<RotationProgress>(
      value, key, [&](const json& object) -> absl::StatusOr<RotationProgress> {
        RotationProgress progress;
        progress.target_kek_version = object.at("target_kek_version").get<std::uint32_t>();
        progress.done = object.at("done").get<std::int64_t>();
        progress.total = object.at("total").get<std::int64_t>();
        absl::StatusOr<RotationState> state =
            ParseRotationState(object.at("state").get<std::string>());
        if (!state.ok()) return Corrupt(key, std::string(state.status().message()));
        progress.state = *state;
        progress.started_at = absl::FromUnixMicros(object.at("started_at_us").get<std::int64_t>());
        progress.updated_at = absl::FromUnixMicros(object.at("updated_at_us").get<std::int64_t>());
        progress.revision = object.at("revision").get<std::int64_t>();
        return progress;
      });
}

std::string EncodePolicy(const PolicyRecord& record) {
  json object = {{"format", kFormat},
                 {"name", record.name},
                 {"version", record.version},
                 {"document", record.document},
                 {"created_at_us", absl::ToUnixMicros(record.created_at)}};
  return object.dump();
}

absl::StatusOr<PolicyRecord> DecodePolicy(std::string_view value, std::string_view key) {
  return Decode<PolicyRecord>(value, key, [&](const json& object) -> absl::StatusOr<PolicyRecord> {
    PolicyRecord record;
    record.name = object.at("name").get<std::string>();
    record.version = object.at("version").get<std::int64_t>();
    record.document = object.at("document").get<std::string>();
    record.created_at = absl::FromUnixMicros(object.at("created_at_us").get<std::int64_t>());
    return record;
  });
}

}  // namespace cloak::kms::etcd
