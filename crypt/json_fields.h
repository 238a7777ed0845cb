#pragma once

// Strict readers for JSON objects whose shape Cloak knows exactly: the volume record and
// the LUKS2 metadata. Every error names the field by its dotted path ("segments.0.offset")
// and carries the status code chosen by the caller (INVALID_ARGUMENT for a record we were
// handed, FAILED_PRECONDITION for a header found on a device).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cloak::crypt {

// Parses `text` as one JSON value. Duplicate keys in an object are refused (two readers
// of the same text must never see different values). Errors carry `code`.
absl::StatusOr<nlohmann::json> ParseStrictJson(std::string_view text, absl::StatusCode code);

// Renders a value for an error message: strings quoted, everything else as compact JSON,
// at most 80 characters.
std::string Render(const nlohmann::json& value);

class JsonFields {
 public:
  // Reads members of `object`, which sits at `path` ("" for the root). Does not own it.
  JsonFields(const nlohmann::json& object, std::string path, absl::StatusCode code)
      : object_(object), path_(std::move(path)), code_(code) {}

  // OK when the value is an object holding every key of `required`, any of `optional`,
  // and nothing else.
  absl::Status ExpectKeys(std::initializer_list<std::string_view> required,
                          std::initializer_list<std::string_view> optional = {}) const;

  bool Has(std::string_view key) const;
  // The member `key`; an error when it is missing.
  absl::StatusOr<const nlohmann::json*> Member(std::string_view key) const;
  // The member `key`, which must be an object; returns a reader for it.
  absl::StatusOr<JsonFields> Object(std::string_view key) const;
  absl::StatusOr<std::string> String(std::string_view key) const;
  // A non-negative integer (JSON number without fraction).
  absl::StatusOr<std::uint64_t> Uint(std::string_view key) const;
  // A non-negative integer written as a decimal string, as LUKS2 stores offsets and sizes.
  absl::StatusOr<std::uint64_t> DecimalString(std::string_view key) const;

  // Equality checks: the error reads `<path>: <actual> != <expected>`.
  absl::Status ExpectString(std::string_view key, std::string_view expected) const;
  absl::Status ExpectUint(std::string_view key, std::uint64_t expected) const;
  absl::Status ExpectDecimalString(std::string_view key, std::uint64_t expected) const;

  // "<path>.<key>" (or "<key>" at the root).
  std::string PathOf(std::string_view key) const;
  // An error with this reader's code: "<path>.<key>: <problem>".
  absl::Status Error(std::string_view key, std::string_view problem) const;
  const nlohmann::json& json() const { return object_; }
  const std::string& path() const { return path_; }
  absl::StatusCode code() const { return code_; }

 private:
  const nlohmann::json& object_;
  std::string path_;
  absl::StatusCode code_;
};

}  // namespace cloak::crypt
