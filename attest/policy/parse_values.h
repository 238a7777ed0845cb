#pragma once

// Typed readers over the YAML tree for the policy parser: each reports a wrong type or
// value at its path into an ErrorList and yields nothing. Internal to attest/policy.

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/policy/parse.h"
#include "attest/policy/yaml_tree.h"

namespace cloak::attest::policy::internal {

class ErrorList {
 public:
  // Records an error; only the first kMaxReportedErrors are kept, the rest are counted.
  void Add(std::string path, std::string message);
  bool empty() const { return errors_.empty(); }
  std::size_t total() const { return total_; }
  std::vector<PolicyError> Take() { return std::move(errors_); }

 private:
  std::vector<PolicyError> errors_;
  std::size_t total_ = 0;
};

// Reads one value; returns false (after recording why) when it is not acceptable.
using EntryReader = std::function<bool(const YamlNode& node, const std::string& path)>;

// `node` must be a mapping whose keys are all in `allowed`; calls `read` for each entry
// in document order. False (with errors) when it is not a mapping or a key is unknown.
bool ReadMap(const YamlNode& node, const std::string& path,
             std::initializer_list<std::string_view> allowed,
             const std::function<void(std::string_view key, const YamlNode& value,
                                      const std::string& path)>& read,
             ErrorList& errors);

// `node` must be a list of 1..kMaxListEntries (0.. when `allow_empty`) items; calls
// `read` for each. False (with errors) when it is not.
bool ReadList(const YamlNode& node, const std::string& path, bool allow_empty,
              const EntryReader& read, ErrorList& errors);

// true / false written without quotes.
std::optional<bool> ReadBool(const YamlNode& node, const std::string& path, ErrorList& errors);
// A decimal integer 0..max written without quotes.
std::optional<std::uint64_t> ReadUint(const YamlNode& node, const std::string& path,
                                      std::uint64_t max, ErrorList& errors);
// Any scalar, quoted or not.
std::optional<std::string> ReadString(const YamlNode& node, const std::string& path,
                                      ErrorList& errors);

// Exactly 2*N hex digits (either case) -> N bytes. `text` is any scalar.
bool DecodeHex(std::string_view text, std::uint8_t* out, std::size_t size);

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> ReadHex(const YamlNode& node, const std::string& path,
                                                   ErrorList& errors) {
  std::array<std::uint8_t, N> bytes{};
  if (node.kind != YamlNode::Kind::kScalar || !DecodeHex(node.scalar, bytes.data(), N)) {
    errors.Add(path, "expected " + std::to_string(2 * N) + " hex digits");
    return std::nullopt;
  }
  return bytes;
}

// A list of N-byte digests in hex.
template <std::size_t N>
std::vector<std::array<std::uint8_t, N>> ReadHexList(const YamlNode& node, const std::string& path,
                                                     bool allow_empty, ErrorList& errors) {
  std::vector<std::array<std::uint8_t, N>> out;
  ReadList(
      node, path, allow_empty,
      [&](const YamlNode& item, const std::string& item_path) {
        auto bytes = ReadHex<N>(item, item_path, errors);
        if (bytes) out.push_back(*bytes);
        return bytes.has_value();
      },
      errors);
  return out;
}

// Lower-case hex. Thread-safe.
std::string ToHex(const std::uint8_t* data, std::size_t size);

template <std::size_t N>
std::string ToHex(const std::array<std::uint8_t, N>& bytes) {
  return ToHex(bytes.data(), N);
}

}  // namespace cloak::attest::policy::internal
