#include "attest/verifier/ak_bindings.h"

#include <set>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace cloak::attest {
namespace {

using nlohmann::json;

constexpr std::string_view kTimeFormat = "%Y-%m-%d%ET%H:%M:%SZ";

bool IsFingerprint(const std::string& text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> StringField(const json& entry, const char* key, std::size_t index) {
  const auto it = entry.find(key);
  if (it == entry.end() || !it->is_string()) {
    return absl::InvalidArgumentError(
        fmt::format("bindings[{}].{}: a string is required", index, key));
  }
  return it->get<std::string>();
}

}  // namespace

absl::StatusOr<AkBindings> ParseAkBindings(std::string_view document) {
  const json root = json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError("tpm-ak-bindings: not a JSON object");
  }
  for (const auto& [key, value] : root.items()) {
    if (key != "bindings") {
      return absl::InvalidArgumentError(
          fmt::format("tpm-ak-bindings: unknown key \"{}\" (only \"bindings\")", key));
    }
  }
  const auto list = root.find("bindings");
  if (list == root.end() || !list->is_array()) {
    return absl::InvalidArgumentError("tpm-ak-bindings: \"bindings\" must be an array");
  }
  if (list->size() > kMaxAkBindings) {
    return absl::InvalidArgumentError(fmt::format(
        "tpm-ak-bindings: {} bindings, at most {} allowed", list->size(), kMaxAkBindings));
  }
  AkBindings bindings;
  std::size_t index = 0;
  for (const json& entry : *list) {
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(fmt::format("bindings[{}]: must be an object", index));
    }
    for (const auto& [key, value] : entry.items()) {
      if (key != "ak" && key != "ek" && key != "ek_subject" && key != "enrolled_at") {
        return absl::InvalidArgumentError(
            fmt::format("bindings[{}]: unknown key \"{}\"", index, key));
      }
    }
    absl::StatusOr<std::string> ak = StringField(entry, "ak", index);
    absl::StatusOr<std::string> ek = StringField(entry, "ek", index);
    absl::StatusOr<std::string> subject = StringField(entry, "ek_subject", index);
    absl::StatusOr<std::string> enrolled = StringField(entry, "enrolled_at", index);
    for (const auto* field : {&ak, &ek, &subject, &enrolled}) {
      if (!field->ok()) return field->status();
    }
    if (!IsFingerprint(*ak) || !IsFingerprint(*ek)) {
      return absl::InvalidArgumentError(
          fmt::format("bindings[{}]: ak and ek must be 64 lower-case hex digits (SHA-256 of the "
                      "TPMT_PUBLIC)",
                      index));
    }
    AkBinding binding{.ek_fingerprint = *ek, .ek_subject = *subject, .enrolled_at = {}};
    std::string error;
    if (!absl::ParseTime(std::string(kTimeFormat), *enrolled, &binding.enrolled_at, &error)) {
      return absl::InvalidArgumentError(
          fmt::format("bindings[{}].enrolled_at: \"{}\" is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)",
                      index, *enrolled));
    }
    if (!bindings.emplace(*ak, std::move(binding)).second) {
      return absl::InvalidArgumentError(
          fmt::format("bindings[{}]: attestation key {} is listed twice", index, *ak));
    }
    ++index;
  }
  return bindings;
}

std::string SerializeAkBindings(const AkBindings& bindings) {
  json list = json::array();
  for (const auto& [ak, binding] : bindings) {
    list.push_back(json{
        {"ak", ak},
        {"ek", binding.ek_fingerprint},
        {"ek_subject", binding.ek_subject},
        {"enrolled_at",
         absl::FormatTime(std::string(kTimeFormat), binding.enrolled_at, absl::UTCTimeZone())}});
  }
  return json{{"bindings", std::move(list)}}.dump();
}

AkBindingSource::AkBindingSource(kms::KeyStore& store, const kms::Clock& clock,
                                 absl::Duration refresh)
    : document_(
          store, clock, std::string(kAkBindingsPolicyName), refresh,
          [](const kms::PolicyRecord& record) -> absl::StatusOr<LoadedAkBindings> {
            absl::StatusOr<AkBindings> parsed = ParseAkBindings(record.document);
            if (!parsed.ok()) return parsed.status();
            return LoadedAkBindings{.bindings = *std::move(parsed), .version = record.version};
          },
          "store a valid version with AdminService SetPolicy (name tpm-ak-bindings)") {}

absl::StatusOr<std::shared_ptr<const LoadedAkBindings>> AkBindingSource::Current() {
  absl::StatusOr<std::shared_ptr<const LoadedAkBindings>> current = document_.Current();
  if (current.ok() && *current == nullptr) return std::make_shared<const LoadedAkBindings>();
  return current;
}

}  // namespace cloak::attest
