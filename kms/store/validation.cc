#include "kms/store/validation.h"

#include <array>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace cloak::kms {
namespace {

constexpr std::string_view kPageTokenPrefix = "v1.";

absl::Status Invalid(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", field, problem));
}

bool IsValidUtf8(std::string_view text) {
  // The parser checks UTF-8 for us: a JSON string holding the bytes must parse.
  std::string quoted;
  quoted.reserve(text.size() + 2);
  quoted.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quoted.push_back('_');  // structural characters are valid UTF-8 anyway
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('"');
  return !nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false).is_discarded();
}

absl::Status CheckText(std::string_view value, std::string_view field, std::size_t max_bytes,
                       bool required) {
  if (required && value.empty()) return Invalid(field, "is required");
  if (value.size() > max_bytes) {
    return Invalid(field,
                   fmt::format("is {} bytes, more than the limit of {}", value.size(), max_bytes));
  }
  if (!IsValidUtf8(value)) return Invalid(field, "is not valid UTF-8");
  return absl::OkStatus();
}

bool IsDetailKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

// Detail names that would invite key material or raw evidence into the log.
constexpr std::array<std::string_view, 10> kForbiddenDetailKeys = {
    "dek",       "key",    "key_bytes",  "wrapped_dek", "wrapped_key",
    "plaintext", "secret", "passphrase", "evidence",    "raw_evidence"};

}  // namespace

absl::Status ValidateVolumeId(std::string_view id, std::string_view field) {
  if (id.empty()) return Invalid(field, "is required");
  if (id.size() > kMaxVolumeIdBytes) {
    return Invalid(
        field, fmt::format("is {} bytes, more than the limit of {}", id.size(), kMaxVolumeIdBytes));
  }
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Invalid(field, "contains a control character");
    }
  }
  if (!IsValidUtf8(id)) return Invalid(field, "is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateRecordJson(std::string_view json, std::string_view field) {
  if (json.size() > kMaxRecordJsonBytes) {
    return Invalid(field, fmt::format("is {} bytes, more than the limit of {}", json.size(),
                                      kMaxRecordJsonBytes));
  }
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return Invalid(field, "is not a JSON object");
  return absl::OkStatus();
}

absl::Status ValidateWrappedKey(const WrappedKey& key, std::string_view field) {
  if (key.empty()) return Invalid(field, "is required");
  if (key.size() > kMaxWrappedKeyBytes) {
    return Invalid(field, fmt::format("is {} bytes, more than the limit of {}", key.size(),
                                      kMaxWrappedKeyBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(const Labels& labels) {
  if (labels.size() > kMaxLabels) {
    return Invalid("labels", fmt::format("has {} entries, more than the limit of {}", labels.size(),
                                         kMaxLabels));
  }
  for (const auto& [key, value] : labels) {
    std::string field = fmt::format("labels[{}]", key);
    if (absl::Status status = CheckText(key, "labels key", 253, /*required=*/true); !status.ok()) {
      return status;
    }
    if (absl::Status status = CheckText(value, field, 1024, /*required=*/false); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNewVolume(const NewVolume& volume) {
  if (absl::Status s = ValidateVolumeId(volume.volume_id, "volume_id"); !s.ok()) return s;
  if (absl::Status s = ValidateRecordJson(volume.record_json, "record_json"); !s.ok()) return s;
  if (volume.key_version == 0) return Invalid("key_version", "must be at least 1");
  if (volume.kek_version == 0) return Invalid("kek_version", "must be at least 1");
  if (absl::Status s = ValidateWrappedKey(volume.wrapped_dek, "wrapped_dek"); !s.ok()) return s;
  return ValidateLabels(volume.labels);
}

absl::Status ValidateCloneRequest(const CloneRequest& clone) {
  if (absl::Status s = ValidateVolumeId(clone.source_volume_id, "source_volume_id"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateVolumeId(clone.volume_id, "volume_id"); !s.ok()) return s;
  if (clone.volume_id == clone.source_volume_id) {
    return Invalid("volume_id", "must differ from source_volume_id");
  }
  if (!clone.record_json.empty()) {
    if (absl::Status s = ValidateRecordJson(clone.record_json, "record_json"); !s.ok()) return s;
  }
  return ValidateLabels(clone.labels);
}

absl::Status ValidatePolicy(std::string_view name, std::string_view document) {
  if (name.empty() || name.size() > 64) return Invalid("policy name", "must be 1 to 64 bytes");
  for (char c : name) {
    if (!IsDetailKeyChar(c)) {
      return Invalid("policy name", "may hold only a-z, 0-9, '_', '.' and '-'");
    }
  }
  return CheckText(document, "policy document", kMaxPolicyBytes, /*required=*/true);
}

absl::Status ValidateRotationProgress(const RotationProgress& progress) {
  if (progress.target_kek_version == 0) return Invalid("target_kek_version", "must be at least 1");
  if (progress.done < 0) return Invalid("done", "must not be negative");
  if (progress.total < 0) return Invalid("total", "must not be negative");
  return absl::OkStatus();
}

absl::Status ValidateAuditEvent(const AuditEvent& event) {
  if (absl::Status s = CheckText(event.actor, "audit actor", 1024, true); !s.ok()) return s;
  if (absl::Status s = CheckText(event.action, "audit action", 128, true); !s.ok()) return s;
  if (absl::Status s = CheckText(event.outcome, "audit outcome", 256, true); !s.ok()) return s;
  if (!event.volume_id.empty()) {
    if (absl::Status s = ValidateVolumeId(event.volume_id, "audit volume_id"); !s.ok()) return s;
  }
  if (event.details.size() > kMaxAuditDetails) {
    return Invalid("audit details", fmt::format("has {} entries, more than the limit of {}",
                                                event.details.size(), kMaxAuditDetails));
  }
  for (const auto& [key, value] : event.details) {
    if (key.empty() || key.size() > 64)
      return Invalid("audit details key", "must be 1 to 64 bytes");
    for (char c : key) {
      if (!IsDetailKeyChar(c)) {
        return Invalid("audit details key", "may hold only a-z, 0-9, '_', '.' and '-'");
      }
    }
    for (std::string_view forbidden : kForbiddenDetailKeys) {
      if (key == forbidden) {
        return Invalid(fmt::format("audit details[{}]", key),
                       "names key material or evidence, which never goes into the audit log");
      }
    }
    if (absl::Status s = CheckText(value, fmt::format("audit details[{}]", key), 1024, false);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AuditEvent> BindAuditEvent(const AuditEvent& event, std::string_view volume_id) {
  if (absl::Status s = ValidateAuditEvent(event); !s.ok()) return s;
  if (!event.volume_id.empty() && event.volume_id != volume_id) {
    return Invalid("audit volume_id",
                   fmt::format("names volume '{}' but the change is to volume '{}'",
                               event.volume_id, volume_id));
  }
  AuditEvent bound = event;
  bound.volume_id = std::string(volume_id);
  return bound;
}

absl::StatusOr<int> NormalizePageSize(int page_size, std::string_view field) {
  if (page_size < 0) return Invalid(field, "must not be negative");
  if (page_size == 0) return kDefaultPageSize;
  return page_size > kMaxPageSize ? kMaxPageSize : page_size;
}

std::string EncodePageToken(std::string_view last_volume_id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string token(kPageTokenPrefix);
  for (char c : last_volume_id) {
    auto byte = static_cast<unsigned char>(c);
    token.push_back(kDigits[byte >> 4]);
    token.push_back(kDigits[byte & 0xf]);
  }
  return token;
}

absl::StatusOr<std::string> DecodePageToken(std::string_view token) {
  if (token.empty()) return std::string();
  auto bad = [] { return Invalid("page_token", "was not issued by this store"); };
  if (!token.starts_with(kPageTokenPrefix)) return bad();
  token.remove_prefix(kPageTokenPrefix.size());
  if (token.empty() || token.size() % 2 != 0 || token.size() > 2 * kMaxVolumeIdBytes) return bad();
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string id;
  for (std::size_t i = 0; i < token.size(); i += 2) {
    int high = nibble(token[i]);
    int low = nibble(token[i + 1]);
    if (high < 0 || low < 0) return bad();
    id.push_back(static_cast<char>(high << 4 | low));
  }
  return id;
}

}  // namespace cloak::kms
