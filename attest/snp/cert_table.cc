#include "attest/snp/cert_table.h"

#include <algorithm>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

constexpr std::size_t kEntrySize = 24;

std::uint32_t Le32(std::span<const std::uint8_t> b, std::size_t off) {
  return static_cast<std::uint32_t>(b[off]) | static_cast<std::uint32_t>(b[off + 1]) << 8 |
         static_cast<std::uint32_t>(b[off + 2]) << 16 |
         static_cast<std::uint32_t>(b[off + 3]) << 24;
}

void PutLe32(std::vector<std::uint8_t>& out, std::size_t off, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

absl::Status Bad(std::string_view what) {
  return absl::UnauthenticatedError(
      fmt::format("SEV-SNP certificate table rejected: {}; the host's extended-report certificates "
                  "are malformed (re-provision them on the host)",
                  what));
}

}  // namespace

absl::StatusOr<SnpCertTable> ParseCertTable(std::span<const std::uint8_t> b) {
  SnpCertTable table;
  if (b.empty()) return table;
  if (b.size() > kMaxCertTableSize) {
    return Bad(
        fmt::format("it is {} bytes, more than the {} allowed", b.size(), kMaxCertTableSize));
  }
  for (std::size_t index = 0;; ++index) {
    const std::size_t pos = index * kEntrySize;
    if (pos + kEntrySize > b.size()) {
      return Bad(fmt::format("entry {} runs past the end without an all-zero terminator", index));
    }
    Guid guid;
    std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(pos), guid.size(), guid.begin());
    const std::uint32_t offset = Le32(b, pos + 16);
    const std::uint32_t length = Le32(b, pos + 20);
    if (guid == Guid{}) {
      if (offset != 0 || length != 0) {
        return Bad(fmt::format("entry {} has a zero GUID but a nonzero offset or length", index));
      }
      return table;
    }
    const std::size_t header_end = pos + kEntrySize;  // at least the terminator follows
    if (offset < header_end || offset > b.size() || length > b.size() - offset) {
      return Bad(fmt::format(
          "entry {} (offset {}, length {}) lies outside the {}-byte table or over its headers",
          index, offset, length, b.size()));
    }
    std::string* slot = nullptr;
    std::string_view name;
    if (guid == kVcekGuid) {
      slot = &table.vcek;
      name = "VCEK";
    } else if (guid == kAskGuid) {
      slot = &table.ask;
      name = "ASK";
    } else if (guid == kArkGuid) {
      slot = &table.ark;
      name = "ARK";
    }
    if (slot == nullptr) continue;
    if (length == 0) return Bad(fmt::format("the {} entry ({}) is empty", name, index));
    if (!slot->empty()) return Bad(fmt::format("the {} entry appears twice", name));
    slot->assign(reinterpret_cast<const char*>(b.data()) + offset, length);
  }
}

std::vector<std::uint8_t> BuildCertTable(const std::vector<CertTableEntry>& entries) {
  const std::size_t headers = (entries.size() + 1) * kEntrySize;
  std::size_t total = headers;
  for (const auto& e : entries) total += e.data.size();
  std::vector<std::uint8_t> out(total, 0);
  std::size_t data_at = headers;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::size_t pos = i * kEntrySize;
    std::copy(entries[i].guid.begin(), entries[i].guid.end(),
              out.begin() + static_cast<std::ptrdiff_t>(pos));
    PutLe32(out, pos + 16, static_cast<std::uint32_t>(data_at));
    PutLe32(out, pos + 20, static_cast<std::uint32_t>(entries[i].data.size()));
    std::copy(entries[i].data.begin(), entries[i].data.end(),
              out.begin() + static_cast<std::ptrdiff_t>(data_at));
    data_at += entries[i].data.size();
  }
  return out;
}

}  // namespace cloak::attest::snp
