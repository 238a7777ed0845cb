#include "crypt/json_fields.h"

#include <set>
#include <vector>

#include "fmt/format.h"

namespace cloak::crypt {

using nlohmann::json;

absl::StatusOr<json> ParseStrictJson(std::string_view text, absl::StatusCode code) {
  // One set of seen keys per open object; a repeated key marks the whole text invalid.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json value = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::Status(code, "not valid JSON");
  if (!duplicate.empty()) {
    return absl::Status(code, fmt::format("duplicate key \"{}\" in JSON", duplicate));
  }
  return value;
}

std::string Render(const json& value) {
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

std::string JsonFields::PathOf(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return fmt::format("{}.{}", path_, key);
}

absl::Status JsonFields::Error(std::string_view key, std::string_view problem) const {
  const std::string where = key.empty() ? (path_.empty() ? "(root)" : path_) : PathOf(key);
  return absl::Status(code_, fmt::format("{}: {}", where, problem));
}

absl::Status JsonFields::ExpectKeys(std::initializer_list<std::string_view> required,
                                    std::initializer_list<std::string_view> optional) const {
  if (!object_.is_object()) return Error("", fmt::format("{} is not an object", Render(object_)));
  for (std::string_view key : required) {
    if (!Has(key)) return Error(key, "missing");
  }
  for (const auto& [key, value] : object_.items()) {
    bool known = false;
    for (std::string_view k : required) known = known || k == key;
    for (std::string_view k : optional) known = known || k == key;
    if (!known) return Error(key, "unexpected field");
  }
  return absl::OkStatus();
}

bool JsonFields::Has(std::string_view key) const {
  return object_.is_object() && object_.contains(key);
}

absl::StatusOr<const json*> JsonFields::Member(std::string_view key) const {
  if (!object_.is_object()) return Error("", "is not an object");
  auto it = object_.find(key);
  if (it == object_.end()) return Error(key, "missing");
  return &*it;
}

absl::StatusOr<JsonFields> JsonFields::Object(std::string_view key) const {
  auto member = Member(key);
  if (!member.ok()) return member.status();
  if (!(*member)->is_object()) {
    return Error(key, fmt::format("{} is not an object", Render(**member)));
  }
  return JsonFields(**member, PathOf(key), code_);
}

absl::StatusOr<std::string> JsonFields::String(std::string_view key) const {
  auto member = Member(key);
  if (!member.ok()) return member.status();
  if (!(*member)->is_string()) {
    return Error(key, fmt::format("{} is not a string", Render(**member)));
  }
  return (*member)->get<std::string>();
}

absl::StatusOr<std::uint64_t> JsonFields::Uint(std::string_view key) const {
  auto member = Member(key);
  if (!member.ok()) return member.status();
  if ((*member)->is_number_unsigned()) return (*member)->get<std::uint64_t>();
  if ((*member)->is_number_integer() && (*member)->get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>((*member)->get<std::int64_t>());
  }
  return Error(key, fmt::format("{} is not a non-negative integer", Render(**member)));
}

absl::StatusOr<std::uint64_t> JsonFields::DecimalString(std::string_view key) const {
  auto text = String(key);
  if (!text.ok()) return text.status();
  const std::string& s = *text;
  // Digits only, no sign, no leading zeros (except "0"), at most 20 digits.
  bool valid = !s.empty() && s.size() <= 20 && (s.size() == 1 || s[0] != '0');
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      valid = false;
      break;
    }
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      valid = false;
      break;
    }
    value = value * 10 + digit;
  }
  if (!valid) return Error(key, fmt::format("\"{}\" is not a decimal integer string", s));
  return value;
}

absl::Status JsonFields::ExpectString(std::string_view key, std::string_view expected) const {
  auto actual = String(key);
  if (!actual.ok()) return actual.status();
  if (*actual != expected) {
    return Error(key, fmt::format("{} != \"{}\"", Render(nlohmann::json(*actual)), expected));
  }
  return absl::OkStatus();
}

absl::Status JsonFields::ExpectUint(std::string_view key, std::uint64_t expected) const {
  auto actual = Uint(key);
  if (!actual.ok()) return actual.status();
  if (*actual != expected) return Error(key, fmt::format("{} != {}", *actual, expected));
  return absl::OkStatus();
}

absl::Status JsonFields::ExpectDecimalString(std::string_view key, std::uint64_t expected) const {
  auto actual = DecimalString(key);
  if (!actual.ok()) return actual.status();
  if (*actual != expected) {
    return Error(key, fmt::format("\"{}\" != \"{}\"", *actual, expected));
  }
  return absl::OkStatus();
}

}  // namespace cloak::crypt
