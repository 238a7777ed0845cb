#include "kms/crypto/kek_file_format.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/kek_wrap_format.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms {
namespace {

constexpr std::uint8_t kMagic[8] = {'C', 'L', 'O', 'A', 'K', 'K', 'E', 'K'};
constexpr std::uint8_t kFormatVersion = 0x01;
constexpr std::size_t kHeaderSize = 13;
constexpr std::size_t kEntrySize = 4 + 1 + kKekSize;
constexpr std::size_t kChecksumSize = 32;
constexpr std::uint8_t kStateActive = 0x01;
constexpr std::uint8_t kStateRetired = 0x02;

std::uint32_t GetU32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void PutU32(std::uint8_t* p, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
}

absl::Status Sha256(std::span<const std::uint8_t> data, std::uint8_t* out) {
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out, &length, EVP_sha256(), nullptr) != 1 ||
      length != kChecksumSize) {
    return OpenSslError("SHA-256");
  }
  return absl::OkStatus();
}

absl::Status CheckEntries(const std::vector<KekEntry>& entries) {
  if (entries.empty() || entries.size() > kMaxKekEntries) {
    return absl::InvalidArgumentError(fmt::format("KEK file holds {} versions; it must hold 1..{}",
                                                  entries.size(), kMaxKekEntries));
  }
  bool any_active = false;
  std::uint32_t previous = 0;
  for (const KekEntry& entry : entries) {
    if (entry.version <= previous) {
      return absl::InvalidArgumentError(
          fmt::format("KEK version {} is out of order or repeated (versions start at 1 and ascend)",
                      entry.version));
    }
    if (entry.key.size() != kKekSize) {
      return absl::InvalidArgumentError(
          fmt::format("KEK version {} is not a {}-byte key", entry.version, kKekSize));
    }
    any_active = any_active || entry.state == KekState::kActive;
    previous = entry.version;
  }
  if (!any_active) return absl::InvalidArgumentError("KEK file has no active version");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<KekEntry>> ParseKekFile(std::span<const std::uint8_t> contents) {
  if (contents.size() < kHeaderSize + kChecksumSize) {
    return absl::InvalidArgumentError(
        fmt::format("KEK file is {} bytes, too short to be one", contents.size()));
  }
  if (std::memcmp(contents.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError("KEK file does not start with the CLOAKKEK magic");
  }
  if (contents[8] != kFormatVersion) {
    return absl::InvalidArgumentError(
        fmt::format("KEK file has unknown format version {}", contents[8]));
  }
  const std::uint32_t count = GetU32(contents.data() + 9);
  if (count == 0 || count > kMaxKekEntries) {
    return absl::InvalidArgumentError(
        fmt::format("KEK file declares {} versions; it must hold 1..{}", count, kMaxKekEntries));
  }
  const std::size_t expected = kHeaderSize + count * kEntrySize + kChecksumSize;
  if (contents.size() != expected) {
    return absl::InvalidArgumentError(fmt::format(
        "KEK file is {} bytes; {} versions need exactly {}", contents.size(), count, expected));
  }
  std::array<std::uint8_t, kChecksumSize> checksum{};
  RETURN_IF_ERROR(Sha256(contents.first(expected - kChecksumSize), checksum.data()));
  if (CRYPTO_memcmp(checksum.data(), contents.data() + expected - kChecksumSize, kChecksumSize) !=
      0) {
    return absl::InvalidArgumentError("KEK file checksum does not match: the file is damaged");
  }
  std::vector<KekEntry> entries;
  entries.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t* entry = contents.data() + kHeaderSize + i * kEntrySize;
    const std::uint8_t state = entry[4];
    if (state != kStateActive && state != kStateRetired) {
      return absl::InvalidArgumentError(
          fmt::format("KEK version {} has unknown state {}", GetU32(entry), state));
    }
    entries.push_back(KekEntry{GetU32(entry),
                               state == kStateActive ? KekState::kActive : KekState::kRetired,
                               SecretBytes::CopyFrom({entry + 5, kKekSize})});
  }
  RETURN_IF_ERROR(CheckEntries(entries));
  return entries;
}

absl::StatusOr<SecretBytes> SerializeKekFile(const std::vector<KekEntry>& entries) {
  RETURN_IF_ERROR(CheckEntries(entries));
  const std::size_t size = kHeaderSize + entries.size() * kEntrySize + kChecksumSize;
  SecretBytes image(size);
  std::uint8_t* out = image.MutableSecretData();
  std::memcpy(out, kMagic, sizeof(kMagic));
  out[8] = kFormatVersion;
  PutU32(out + 9, static_cast<std::uint32_t>(entries.size()));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::uint8_t* entry = out + kHeaderSize + i * kEntrySize;
    PutU32(entry, entries[i].version);
    entry[4] = entries[i].state == KekState::kActive ? kStateActive : kStateRetired;
    std::memcpy(entry + 5, entries[i].key.SecretData(), kKekSize);
  }
  RETURN_IF_ERROR(Sha256({out, size - kChecksumSize}, out + size - kChecksumSize));
  return image;
}

}  // namespace cloak::kms
