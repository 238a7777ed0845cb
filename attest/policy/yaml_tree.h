#pragma once

// A bounded YAML (and therefore JSON) reader for the policy document: one document, no
// anchors, aliases or tags, no duplicate or non-scalar keys, bounded nesting, entries and
// values (attest/policy/policy.h). Internal to attest/policy.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::attest::policy::internal {

struct YamlEntry;

struct YamlNode {
  enum class Kind { kNull, kScalar, kList, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;              // kScalar
  bool plain = false;              // kScalar: written without quotes (so true, 7 are not strings)
  std::vector<YamlNode> items;     // kList
  std::vector<YamlEntry> entries;  // kMap, in document order
};

struct YamlEntry {
  std::string key;
  YamlNode value;
};

// Parses `text` into a tree. Never throws. INVALID_ARGUMENT naming the line (syntax) or
// the path (limits, duplicate keys, anchors) of the first problem.
absl::StatusOr<YamlNode> LoadYaml(std::string_view text);

// `parent` + "." + `key` (just `key` at the top); odd characters in `key` become '?' and
// long keys are cut, so a hostile key cannot garble a message. Thread-safe.
std::string JoinPath(std::string_view parent, std::string_view key);
// `parent` + "[index]". Thread-safe.
std::string IndexPath(std::string_view parent, std::size_t index);

}  // namespace cloak::attest::policy::internal
