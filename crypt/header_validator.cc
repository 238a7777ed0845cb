#include "crypt/header_validator.h"

#include <openssl/evp.h>

#include "common/status.h"
#include "crypt/json_fields.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

using nlohmann::json;

constexpr absl::StatusCode kMismatch = absl::StatusCode::kFailedPrecondition;

absl::Status Mismatch(std::string_view field, std::string_view problem) {
  return absl::FailedPreconditionError(fmt::format("{}: {}", field, problem));
}

// Decoded length of a standard base64 string, or -1 when it is not valid base64.
int Base64DecodedLength(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 1024) return -1;
  unsigned char out[1024];
  const int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return -1;
  int padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  return n - padding;
}

absl::Status ExpectBase64(const JsonFields& fields, std::string_view key, int bytes) {
  ASSIGN_OR_RETURN(std::string text, fields.String(key));
  const int length = Base64DecodedLength(text);
  if (length != bytes) {
    return fields.Error(key, fmt::format("not a base64 value of {} bytes", bytes));
  }
  return absl::OkStatus();
}

// The object `key` of `parent` must hold exactly one member, named "0".
absl::StatusOr<JsonFields> OnlyEntryZero(const JsonFields& parent, std::string_view key,
                                         std::string_view what) {
  ASSIGN_OR_RETURN(JsonFields table, parent.Object(key));
  if (table.json().size() != 1 || !table.Has("0")) {
    std::string ids;
    for (const auto& [id, value] : table.json().items()) ids += (ids.empty() ? "" : ",") + id;
    return parent.Error(key,
                        fmt::format("expected exactly one {} with id 0, found [{}]", what, ids));
  }
  return table.Object("0");
}

// A JSON array of decimal-string ids must be exactly ["0"].
absl::Status ExpectOnlyIdZero(const JsonFields& fields, std::string_view key) {
  ASSIGN_OR_RETURN(const json* refs, fields.Member(key));
  if (*refs != json::array({"0"})) {
    return fields.Error(key, fmt::format("{} != [\"0\"]", Render(*refs)));
  }
  return absl::OkStatus();
}

absl::Status RefuseCipherNull(const JsonFields& fields, std::string_view key,
                              std::string_view expected) {
  ASSIGN_OR_RETURN(std::string cipher, fields.String(key));
  if (cipher.find("cipher_null") != std::string::npos || cipher.find("null") == 0) {
    return fields.Error(
        key, fmt::format("\"{}\" != \"{}\" (a null cipher: no encryption)", cipher, expected));
  }
  return absl::OkStatus();
}

absl::Status CheckConfig(const JsonFields& root, const VolumeRecord& r) {
  ASSIGN_OR_RETURN(JsonFields config, root.Object("config"));
  RETURN_IF_ERROR(config.ExpectKeys({"json_size", "keyslots_size"}, {"flags", "requirements"}));
  RETURN_IF_ERROR(
      config.ExpectDecimalString("json_size", r.metadata_size_bytes - kLuksBinaryHeaderSize));
  RETURN_IF_ERROR(config.ExpectDecimalString("keyslots_size", r.keyslots_size_bytes));
  if (config.Has("flags")) {
    ASSIGN_OR_RETURN(const json* flags, config.Member("flags"));
    if (!flags->is_array() || !flags->empty()) {
      return config.Error("flags", fmt::format("{} != [] (persistent activation flags are "
                                               "not allowed)",
                                               Render(*flags)));
    }
  }
  if (config.Has("requirements")) {
    ASSIGN_OR_RETURN(const json* requirements, config.Member("requirements"));
    return config.Error("requirements", fmt::format("{} is set (no requirements are allowed)",
                                                    Render(*requirements)));
  }
  return absl::OkStatus();
}

absl::Status CheckSegment(const JsonFields& root, const VolumeRecord& r) {
  ASSIGN_OR_RETURN(JsonFields segment, OnlyEntryZero(root, "segments", "segment"));
  const bool integrity = r.integrity != IntegrityMode::kNone;
  RETURN_IF_ERROR(segment.ExpectString("type", "crypt"));
  RETURN_IF_ERROR(RefuseCipherNull(segment, "encryption", r.cipher));
  RETURN_IF_ERROR(segment.ExpectString("encryption", r.cipher));
  RETURN_IF_ERROR(segment.ExpectUint("sector_size", r.sector_size));
  RETURN_IF_ERROR(segment.ExpectDecimalString("offset", r.data_offset_bytes));
  RETURN_IF_ERROR(segment.ExpectString("size", "dynamic"));
  RETURN_IF_ERROR(segment.ExpectDecimalString("iv_tweak", 0));
  if (!integrity) {
    if (segment.Has("integrity")) {
      return segment.Error("integrity", "present, but the record says integrity mode none");
    }
  } else {
    if (!segment.Has("integrity")) {
      return segment.Error("integrity", fmt::format("missing, but the record says integrity "
                                                    "mode {}",
                                                    IntegrityModeName(r.integrity)));
    }
    ASSIGN_OR_RETURN(JsonFields integrity_fields, segment.Object("integrity"));
    RETURN_IF_ERROR(
        integrity_fields.ExpectKeys({"type", "journal_encryption", "journal_integrity"}));
    RETURN_IF_ERROR(integrity_fields.ExpectString("type", LuksIntegrityName(r.integrity)));
    RETURN_IF_ERROR(integrity_fields.ExpectString("journal_encryption", "none"));
    RETURN_IF_ERROR(integrity_fields.ExpectString("journal_integrity", "none"));
  }
  return segment.ExpectKeys({"type", "offset", "size", "iv_tweak", "encryption", "sector_size"},
                            {"integrity"});
}

absl::Status CheckKeyslot(const JsonFields& root, const VolumeRecord& r) {
  ASSIGN_OR_RETURN(JsonFields keyslot, OnlyEntryZero(root, "keyslots", "keyslot"));
  RETURN_IF_ERROR(keyslot.ExpectKeys({"type", "key_size", "af", "area", "kdf"}));
  RETURN_IF_ERROR(keyslot.ExpectString("type", "luks2"));
  RETURN_IF_ERROR(keyslot.ExpectUint("key_size", r.volume_key_bytes()));

  ASSIGN_OR_RETURN(JsonFields af, keyslot.Object("af"));
  RETURN_IF_ERROR(af.ExpectKeys({"type", "stripes", "hash"}));
  RETURN_IF_ERROR(af.ExpectString("type", "luks1"));
  RETURN_IF_ERROR(af.ExpectUint("stripes", r.keyslot_af_stripes));
  RETURN_IF_ERROR(af.ExpectString("hash", r.keyslot_af_hash));

  ASSIGN_OR_RETURN(JsonFields area, keyslot.Object("area"));
  RETURN_IF_ERROR(area.ExpectKeys({"type", "offset", "size", "encryption", "key_size"}));
  RETURN_IF_ERROR(area.ExpectString("type", "raw"));
  RETURN_IF_ERROR(RefuseCipherNull(area, "encryption", r.keyslot_area_cipher));
  RETURN_IF_ERROR(area.ExpectString("encryption", r.keyslot_area_cipher));
  RETURN_IF_ERROR(area.ExpectUint("key_size", r.keyslot_area_key_size_bits / 8));
  ASSIGN_OR_RETURN(std::uint64_t offset, area.DecimalString("offset"));
  ASSIGN_OR_RETURN(std::uint64_t size, area.DecimalString("size"));
  const std::uint64_t area_begin = 2 * r.metadata_size_bytes;
  const std::uint64_t area_end = area_begin + r.keyslots_size_bytes;
  if (offset % 4096 != 0 || offset < area_begin || offset >= area_end) {
    return area.Error("offset", fmt::format("\"{}\" is outside the keyslots area [{}, {})", offset,
                                            area_begin, area_end));
  }
  const std::uint64_t needed = std::uint64_t{r.volume_key_bytes()} * r.keyslot_af_stripes;
  if (size % 4096 != 0 || size < needed || size > area_end - offset) {
    return area.Error("size", fmt::format("\"{}\" must be a multiple of 4096, hold {} bytes of "
                                          "key material and end by {}",
                                          size, needed, area_end));
  }

  ASSIGN_OR_RETURN(JsonFields kdf, keyslot.Object("kdf"));
  RETURN_IF_ERROR(kdf.ExpectString("type", r.keyslot_kdf));
  RETURN_IF_ERROR(kdf.ExpectKeys({"type", "hash", "iterations", "salt"}));
  RETURN_IF_ERROR(kdf.ExpectString("hash", r.keyslot_hash));
  RETURN_IF_ERROR(kdf.ExpectUint("iterations", r.keyslot_iterations));
  return ExpectBase64(kdf, "salt", 32);
}

absl::Status CheckDigest(const JsonFields& root, const VolumeRecord& r) {
  ASSIGN_OR_RETURN(JsonFields digest, OnlyEntryZero(root, "digests", "digest"));
  RETURN_IF_ERROR(
      digest.ExpectKeys({"type", "keyslots", "segments", "hash", "iterations", "salt", "digest"}));
  RETURN_IF_ERROR(digest.ExpectString("type", r.digest_type));
  RETURN_IF_ERROR(ExpectOnlyIdZero(digest, "keyslots"));
  RETURN_IF_ERROR(ExpectOnlyIdZero(digest, "segments"));
  RETURN_IF_ERROR(digest.ExpectString("hash", r.digest_hash));
  RETURN_IF_ERROR(digest.ExpectUint("iterations", r.digest_iterations));
  RETURN_IF_ERROR(ExpectBase64(digest, "salt", 32));
  return ExpectBase64(digest, "digest", 32);
}

absl::Status CheckFacts(const HeaderFacts& f, const VolumeRecord& r) {
  auto str = [](std::string_view name, const std::string& actual,
                std::string_view expected) -> absl::Status {
    if (actual == expected) return absl::OkStatus();
    return Mismatch(fmt::format("luks2.{}", name),
                    fmt::format("{} != \"{}\"", Render(json(actual)), expected));
  };
  auto num = [](std::string_view name, std::uint64_t actual,
                std::uint64_t expected) -> absl::Status {
    if (actual == expected) return absl::OkStatus();
    return Mismatch(fmt::format("luks2.{}", name), fmt::format("{} != {}", actual, expected));
  };
  RETURN_IF_ERROR(str("type", f.type, "LUKS2"));
  RETURN_IF_ERROR(str("label", f.label, r.label));
  RETURN_IF_ERROR(str("subsystem", f.subsystem, r.subsystem));
  RETURN_IF_ERROR(num("metadata_size", f.metadata_size, r.metadata_size_bytes));
  RETURN_IF_ERROR(num("keyslots_size", f.keyslots_size, r.keyslots_size_bytes));
  RETURN_IF_ERROR(str("cipher", fmt::format("{}-{}", f.cipher, f.cipher_mode), r.cipher));
  RETURN_IF_ERROR(num("volume_key_size", f.volume_key_bytes, r.volume_key_bytes()));
  RETURN_IF_ERROR(num("sector_size", f.sector_size, r.sector_size));
  RETURN_IF_ERROR(num("data_offset", f.data_offset_sectors * 512, r.data_offset_bytes));
  RETURN_IF_ERROR(str("integrity", f.integrity, LuksIntegrityName(r.integrity)));
  RETURN_IF_ERROR(num("integrity_tag_size", f.integrity_tag_size, r.integrity_tag_size_bytes));
  RETURN_IF_ERROR(num("persistent_flags", f.persistent_flags, 0));
  return num("requirement_flags", f.requirement_flags, 0);
}

}  // namespace

std::string_view LuksIntegrityName(IntegrityMode mode) {
  switch (mode) {
    case IntegrityMode::kHmacSha256:
      return "hmac(sha256)";
    case IntegrityMode::kAead:
      return "aead";
    case IntegrityMode::kNone:
      break;
  }
  return "";
}

absl::Status ValidateLuks2Header(std::string_view metadata_json, const HeaderFacts& facts,
                                 const VolumeRecord& record) {
  ASSIGN_OR_RETURN(json metadata, ParseStrictJson(metadata_json, kMismatch));
  const JsonFields root(metadata, "", kMismatch);
  RETURN_IF_ERROR(root.ExpectKeys({"keyslots", "tokens", "segments", "digests", "config"}));
  RETURN_IF_ERROR(CheckConfig(root, record));
  RETURN_IF_ERROR(CheckSegment(root, record));
  RETURN_IF_ERROR(CheckKeyslot(root, record));
  ASSIGN_OR_RETURN(JsonFields tokens, root.Object("tokens"));
  if (!tokens.json().empty()) {
    return root.Error("tokens",
                      fmt::format("{} != {{}} (no tokens are allowed)", Render(tokens.json())));
  }
  RETURN_IF_ERROR(CheckDigest(root, record));
  return CheckFacts(facts, record);
}

}  // namespace cloak::crypt
