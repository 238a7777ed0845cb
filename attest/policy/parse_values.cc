#include "attest/policy/parse_values.h"

#include <charconv>

#include "fmt/format.h"

namespace cloak::attest::policy::internal {
namespace {

std::string_view KindName(const YamlNode& node) {
  switch (node.kind) {
    case YamlNode::Kind::kNull:
      return "nothing";
    case YamlNode::Kind::kScalar:
      return "a scalar";
    case YamlNode::Kind::kList:
      return "a list";
    case YamlNode::Kind::kMap:
      return "a mapping";
  }
  return "something else";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void ErrorList::Add(std::string path, std::string message) {
  ++total_;
  if (errors_.size() < kMaxReportedErrors) {
    errors_.push_back(PolicyError{.path = std::move(path), .message = std::move(message)});
  }
}

bool ReadMap(const YamlNode& node, const std::string& path,
             std::initializer_list<std::string_view> allowed,
             const std::function<void(std::string_view key, const YamlNode& value,
                                      const std::string& path)>& read,
             ErrorList& errors) {
  if (node.kind != YamlNode::Kind::kMap) {
    errors.Add(path, fmt::format("expected a mapping, found {}", KindName(node)));
    return false;
  }
  bool ok = true;
  for (const auto& [key, value] : node.entries) {
    const std::string key_path = JoinPath(path, key);
    bool known = false;
    for (std::string_view name : allowed) known = known || name == key;
    if (!known) {
      errors.Add(key_path,
                 allowed.size() == 0
                     ? std::string("unknown key; this mapping takes no keys")
                     : fmt::format("unknown key; allowed here: {}", fmt::join(allowed, ", ")));
      ok = false;
      continue;
    }
    read(key, value, key_path);
  }
  return ok;
}

bool ReadList(const YamlNode& node, const std::string& path, bool allow_empty,
              const EntryReader& read, ErrorList& errors) {
  if (node.kind != YamlNode::Kind::kList) {
    errors.Add(path, fmt::format("expected a list, found {}", KindName(node)));
    return false;
  }
  if (node.items.empty() && !allow_empty) {
    errors.Add(path, "must not be empty");
    return false;
  }
  bool ok = true;
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    ok = read(node.items[i], IndexPath(path, i)) && ok;
  }
  return ok;
}

std::optional<bool> ReadBool(const YamlNode& node, const std::string& path, ErrorList& errors) {
  if (node.kind == YamlNode::Kind::kScalar && node.plain) {
    if (node.scalar == "true") return true;
    if (node.scalar == "false") return false;
  }
  errors.Add(path, "expected true or false");
  return std::nullopt;
}

std::optional<std::uint64_t> ReadUint(const YamlNode& node, const std::string& path,
                                      std::uint64_t max, ErrorList& errors) {
  if (node.kind == YamlNode::Kind::kScalar && node.plain && !node.scalar.empty() &&
      node.scalar.size() <= 20) {
    std::uint64_t value = 0;
    const char* end = node.scalar.data() + node.scalar.size();
    auto [ptr, ec] = std::from_chars(node.scalar.data(), end, value);
    if (ec == std::errc() && ptr == end && value <= max) return value;
  }
  errors.Add(path, fmt::format("expected an integer 0..{}", max));
  return std::nullopt;
}

std::optional<std::string> ReadString(const YamlNode& node, const std::string& path,
                                      ErrorList& errors) {
  if (node.kind == YamlNode::Kind::kScalar) return node.scalar;
  errors.Add(path, fmt::format("expected a string, found {}", KindName(node)));
  return std::nullopt;
}

bool DecodeHex(std::string_view text, std::uint8_t* out, std::size_t size) {
  if (text.size() != 2 * size) return false;
  for (std::size_t i = 0; i < size; ++i) {
    const int high = HexValue(text[2 * i]);
    const int low = HexValue(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return true;
}

std::string ToHex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0xf]);
  }
  return hex;
}

}  // namespace cloak::attest::policy::internal
