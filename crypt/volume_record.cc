#include "crypt/volume_record.h"

#include <array>

#include "common/status.h"
#include "crypt/json_fields.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace cloak::crypt {
namespace {

using nlohmann::json;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr std::uint32_t kMinPbkdf2Iterations = 1000;  // libcryptsetup's floor for PBKDF2
constexpr std::uint32_t kMaxPbkdf2Iterations = 10'000'000;
constexpr std::uint64_t kMaxKeyslotsSize = 128ull << 20;  // LUKS2 limit
constexpr std::array<std::uint64_t, 9> kLuks2MetadataSizes = {
    16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304};

absl::Status Invalid(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(fmt::format("volume record: {}: {}", field, problem));
}

bool ValidVolumeIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

absl::Status CheckIterations(std::string_view field, std::uint32_t iterations) {
  if (iterations < kMinPbkdf2Iterations || iterations > kMaxPbkdf2Iterations) {
    return Invalid(field, fmt::format("{} is outside [{}, {}]", iterations, kMinPbkdf2Iterations,
                                      kMaxPbkdf2Iterations));
  }
  return absl::OkStatus();
}

// The parameters that belong to each integrity mode (DESIGN §5).
struct ModeParameters {
  std::string_view cipher;
  std::uint32_t key_size_bits;
  std::uint32_t tag_size_bytes;
};

ModeParameters ParametersFor(IntegrityMode mode) {
  switch (mode) {
    case IntegrityMode::kHmacSha256:
      return {"aes-xts-plain64", 768, 32};
    case IntegrityMode::kAead:
      return {"aes-gcm-random", 256, 28};
    case IntegrityMode::kNone:
      break;
  }
  return {"aes-xts-plain64", 512, 0};
}

absl::StatusOr<std::uint32_t> Uint32(const JsonFields& fields, std::string_view key) {
  ASSIGN_OR_RETURN(std::uint64_t value, fields.Uint(key));
  if (value > UINT32_MAX) return fields.Error(key, fmt::format("{} is too large", value));
  return static_cast<std::uint32_t>(value);
}

}  // namespace

std::string_view IntegrityModeName(IntegrityMode mode) {
  switch (mode) {
    case IntegrityMode::kHmacSha256:
      return "hmac-sha256";
    case IntegrityMode::kAead:
      return "aead";
    case IntegrityMode::kNone:
      break;
  }
  return "none";
}

absl::StatusOr<IntegrityMode> ParseIntegrityMode(std::string_view name) {
  if (name == "none") return IntegrityMode::kNone;
  if (name == "hmac-sha256") return IntegrityMode::kHmacSha256;
  if (name == "aead") return IntegrityMode::kAead;
  return absl::InvalidArgumentError(
      fmt::format("unknown integrity mode \"{}\"; expected none, hmac-sha256 or aead", name));
}

std::string_view VolumeStateName(VolumeState state) {
  return state == VolumeState::kFormatted ? "formatted" : "created";
}

absl::StatusOr<VolumeRecord> DefaultRecord(std::string_view volume_id, IntegrityMode integrity) {
  const ModeParameters params = ParametersFor(integrity);
  VolumeRecord record;
  record.volume_id = std::string(volume_id);
  record.label = record.volume_id;
  record.metadata_size_bytes = 16384;
  record.data_offset_bytes = 16ull << 20;
  record.keyslots_size_bytes = record.data_offset_bytes - 2 * record.metadata_size_bytes;
  record.cipher = std::string(params.cipher);
  record.key_size_bits = params.key_size_bits;
  record.sector_size = 4096;
  record.integrity = integrity;
  record.integrity_tag_size_bytes = params.tag_size_bytes;
  record.keyslot_iterations = kMinPbkdf2Iterations;
  record.keyslot_area_cipher = "aes-xts-plain64";
  record.keyslot_area_key_size_bits = 512;
  record.digest_iterations = kMinPbkdf2Iterations;
  RETURN_IF_ERROR(CheckVolumeRecord(record));
  return record;
}

absl::Status CheckVolumeRecord(const VolumeRecord& r) {
  if (r.version != kVolumeRecordVersion) {
    return Invalid("version", fmt::format("{} is not supported (this build reads version {})",
                                          r.version, kVolumeRecordVersion));
  }
  if (r.volume_id.empty() || r.volume_id.size() > kMaxVolumeIdLength) {
    return Invalid("volume_id", fmt::format("length {} is outside [1, {}] (it becomes the LUKS2 "
                                            "label)",
                                            r.volume_id.size(), kMaxVolumeIdLength));
  }
  for (char c : r.volume_id) {
    if (!ValidVolumeIdChar(c)) {
      return Invalid("volume_id", "may contain only letters, digits, '-', '_' and '.'");
    }
  }
  if (r.key_version == 0) return Invalid("key_version", "must be at least 1");
  if (r.label != r.volume_id) {
    return Invalid("header.label",
                   fmt::format("\"{}\" must equal volume_id \"{}\"", r.label, r.volume_id));
  }
  if (r.subsystem != kLuksSubsystem) {
    return Invalid("header.subsystem",
                   fmt::format("\"{}\" != \"{}\"", r.subsystem, kLuksSubsystem));
  }
  bool metadata_size_ok = false;
  for (std::uint64_t size : kLuks2MetadataSizes) metadata_size_ok |= size == r.metadata_size_bytes;
  if (!metadata_size_ok) {
    return Invalid("header.metadata_size",
                   fmt::format("{} is not a LUKS2 header size (16384 .. 4194304, powers of two)",
                               r.metadata_size_bytes));
  }
  if (r.sector_size != 512 && r.sector_size != 1024 && r.sector_size != 2048 &&
      r.sector_size != 4096) {
    return Invalid("segment.sector_size",
                   fmt::format("{} is not one of 512, 1024, 2048, 4096", r.sector_size));
  }
  if (r.data_offset_bytes % 4096 != 0 || r.data_offset_bytes % r.sector_size != 0 ||
      r.data_offset_bytes <= 2 * r.metadata_size_bytes) {
    return Invalid("segment.data_offset",
                   fmt::format("{} must be a multiple of 4096 and of the sector size, beyond "
                               "both header copies",
                               r.data_offset_bytes));
  }
  if (r.keyslots_size_bytes != r.data_offset_bytes - 2 * r.metadata_size_bytes ||
      r.keyslots_size_bytes > kMaxKeyslotsSize) {
    return Invalid("header.keyslots_size",
                   fmt::format("{} must fill the space between the header copies and the data "
                               "({} bytes) and be at most {}",
                               r.keyslots_size_bytes,
                               r.data_offset_bytes - 2 * r.metadata_size_bytes, kMaxKeyslotsSize));
  }
  const ModeParameters params = ParametersFor(r.integrity);
  if (r.cipher != params.cipher) {
    return Invalid("segment.cipher",
                   fmt::format("\"{}\" != \"{}\" (required by integrity mode {})", r.cipher,
                               params.cipher, IntegrityModeName(r.integrity)));
  }
  if (r.key_size_bits != params.key_size_bits) {
    return Invalid("segment.key_size_bits",
                   fmt::format("{} != {} (required by integrity mode {})", r.key_size_bits,
                               params.key_size_bits, IntegrityModeName(r.integrity)));
  }
  if (r.integrity_tag_size_bytes != params.tag_size_bytes) {
    return Invalid(
        "integrity.tag_size",
        fmt::format("{} != {} (required by integrity mode {})", r.integrity_tag_size_bytes,
                    params.tag_size_bytes, IntegrityModeName(r.integrity)));
  }
  if (r.keyslot_kdf != "pbkdf2") return Invalid("keyslot.kdf", "only \"pbkdf2\" is supported");
  if (r.keyslot_hash != "sha256") return Invalid("keyslot.hash", "only \"sha256\" is supported");
  RETURN_IF_ERROR(CheckIterations("keyslot.iterations", r.keyslot_iterations));
  if (r.keyslot_area_cipher != "aes-xts-plain64") {
    return Invalid("keyslot.area_cipher", "only \"aes-xts-plain64\" is supported");
  }
  if (r.keyslot_area_key_size_bits != 512) {
    return Invalid("keyslot.area_key_size_bits", "only 512 is supported");
  }
  if (r.keyslot_af_stripes != 4000) return Invalid("keyslot.af_stripes", "only 4000 is supported");
  if (r.keyslot_af_hash != "sha256")
    return Invalid("keyslot.af_hash", "only \"sha256\" is supported");
  if (r.digest_type != "pbkdf2") return Invalid("digest.type", "only \"pbkdf2\" is supported");
  if (r.digest_hash != "sha256") return Invalid("digest.hash", "only \"sha256\" is supported");
  return CheckIterations("digest.iterations", r.digest_iterations);
}

absl::StatusOr<VolumeRecord> ParseVolumeRecord(std::string_view json_text) {
  auto parsed = ParseStrictJson(json_text, kInvalid);
  if (!parsed.ok()) return Annotate(parsed.status(), "volume record");
  auto parse = [&]() -> absl::StatusOr<VolumeRecord> {
    const JsonFields root(*parsed, "", kInvalid);
    RETURN_IF_ERROR(root.ExpectKeys({"version", "volume_id", "key_version", "state", "header",
                                     "segment", "integrity", "keyslot", "digest"}));
    VolumeRecord r;
    ASSIGN_OR_RETURN(std::uint64_t version, root.Uint("version"));
    if (version != kVolumeRecordVersion) {
      return root.Error("version", fmt::format("{} is not supported (this build reads version {})",
                                               version, kVolumeRecordVersion));
    }
    ASSIGN_OR_RETURN(r.volume_id, root.String("volume_id"));
    ASSIGN_OR_RETURN(r.key_version, Uint32(root, "key_version"));
    ASSIGN_OR_RETURN(std::string state, root.String("state"));
    if (state == "created") {
      r.state = VolumeState::kCreated;
    } else if (state == "formatted") {
      r.state = VolumeState::kFormatted;
    } else {
      return root.Error("state", fmt::format("\"{}\" is not \"created\" or \"formatted\"", state));
    }

    ASSIGN_OR_RETURN(JsonFields header, root.Object("header"));
    RETURN_IF_ERROR(header.ExpectKeys({"label", "subsystem", "metadata_size", "keyslots_size"}));
    ASSIGN_OR_RETURN(r.label, header.String("label"));
    ASSIGN_OR_RETURN(r.subsystem, header.String("subsystem"));
    ASSIGN_OR_RETURN(r.metadata_size_bytes, header.Uint("metadata_size"));
    ASSIGN_OR_RETURN(r.keyslots_size_bytes, header.Uint("keyslots_size"));

    ASSIGN_OR_RETURN(JsonFields segment, root.Object("segment"));
    RETURN_IF_ERROR(segment.ExpectKeys({"cipher", "key_size_bits", "sector_size", "data_offset"}));
    ASSIGN_OR_RETURN(r.cipher, segment.String("cipher"));
    ASSIGN_OR_RETURN(r.key_size_bits, Uint32(segment, "key_size_bits"));
    ASSIGN_OR_RETURN(r.sector_size, Uint32(segment, "sector_size"));
    ASSIGN_OR_RETURN(r.data_offset_bytes, segment.Uint("data_offset"));

    ASSIGN_OR_RETURN(JsonFields integrity, root.Object("integrity"));
    RETURN_IF_ERROR(integrity.ExpectKeys({"mode", "tag_size"}));
    ASSIGN_OR_RETURN(std::string mode, integrity.String("mode"));
    auto parsed_mode = ParseIntegrityMode(mode);
    if (!parsed_mode.ok())
      return integrity.Error("mode", std::string(parsed_mode.status().message()));
    r.integrity = *parsed_mode;
    ASSIGN_OR_RETURN(r.integrity_tag_size_bytes, Uint32(integrity, "tag_size"));

    ASSIGN_OR_RETURN(JsonFields keyslot, root.Object("keyslot"));
    RETURN_IF_ERROR(keyslot.ExpectKeys({"kdf", "hash", "iterations", "area_cipher",
                                        "area_key_size_bits", "af_stripes", "af_hash"}));
    ASSIGN_OR_RETURN(r.keyslot_kdf, keyslot.String("kdf"));
    ASSIGN_OR_RETURN(r.keyslot_hash, keyslot.String("hash"));
    ASSIGN_OR_RETURN(r.keyslot_iterations, Uint32(keyslot, "iterations"));
    ASSIGN_OR_RETURN(r.keyslot_area_cipher, keyslot.String("area_cipher"));
    ASSIGN_OR_RETURN(r.keyslot_area_key_size_bits, Uint32(keyslot, "area_key_size_bits"));
    ASSIGN_OR_RETURN(r.keyslot_af_stripes, Uint32(keyslot, "af_stripes"));
    ASSIGN_OR_RETURN(r.keyslot_af_hash, keyslot.String("af_hash"));

    ASSIGN_OR_RETURN(JsonFields digest, root.Object("digest"));
    RETURN_IF_ERROR(digest.ExpectKeys({"type", "hash", "iterations"}));
    ASSIGN_OR_RETURN(r.digest_type, digest.String("type"));
    ASSIGN_OR_RETURN(r.digest_hash, digest.String("hash"));
    ASSIGN_OR_RETURN(r.digest_iterations, Uint32(digest, "iterations"));
    return r;
  };
  auto record = parse();
  if (!record.ok()) return Annotate(record.status(), "volume record");
  RETURN_IF_ERROR(CheckVolumeRecord(*record));
  return record;
}

std::string SerializeVolumeRecord(const VolumeRecord& r) {
  json j = {
      {"version", r.version},
      {"volume_id", r.volume_id},
      {"key_version", r.key_version},
      {"state", std::string(VolumeStateName(r.state))},
      {"header",
       {{"label", r.label},
        {"subsystem", r.subsystem},
        {"metadata_size", r.metadata_size_bytes},
        {"keyslots_size", r.keyslots_size_bytes}}},
      {"segment",
       {{"cipher", r.cipher},
        {"key_size_bits", r.key_size_bits},
        {"sector_size", r.sector_size},
        {"data_offset", r.data_offset_bytes}}},
      {"integrity",
       {{"mode", std::string(IntegrityModeName(r.integrity))},
        {"tag_size", r.integrity_tag_size_bytes}}},
      {"keyslot",
       {{"kdf", r.keyslot_kdf},
        {"hash", r.keyslot_hash},
        {"iterations", r.keyslot_iterations},
        {"area_cipher", r.keyslot_area_cipher},
        {"area_key_size_bits", r.keyslot_area_key_size_bits},
        {"af_stripes", r.keyslot_af_stripes},
        {"af_hash", r.keyslot_af_hash}}},
      {"digest",
       {{"type", r.digest_type}, {"hash", r.digest_hash}, {"iterations", r.digest_iterations}}},
  };
  return j.dump(2) + "\n";
}

}  // namespace cloak::crypt
