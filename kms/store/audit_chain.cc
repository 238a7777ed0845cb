#include "kms/store/audit_chain.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "fmt/format.h"

namespace cloak::kms {
namespace {

constexpr std::string_view kDomainTag = "cloak-audit-v1";

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void PutU64(std::vector<std::uint8_t>& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void PutString(std::vector<std::uint8_t>& out, std::string_view text) {
  PutU32(out, static_cast<std::uint32_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
}

absl::Status Broken(std::uint64_t sequence, std::string_view reason) {
  return absl::DataLossError(fmt::format(
      "audit log broken at sequence {}: {}; the log was modified, reordered or truncated "
      "after it was written; restore the store from a backup and investigate",
      sequence, reason));
}

}  // namespace

std::vector<std::uint8_t> CanonicalAuditEncoding(const AuditEntry& entry) {
  const AuditEvent& event = entry.event;
  std::vector<std::uint8_t> out;
  out.reserve(128 + event.actor.size() + event.action.size() + event.volume_id.size() +
              event.outcome.size());
  PutString(out, kDomainTag);
  PutU64(out, entry.sequence);
  PutU64(out, static_cast<std::uint64_t>(absl::ToUnixMicros(entry.time)));
  PutString(out, event.actor);
  PutString(out, event.action);
  PutString(out, event.volume_id);
  PutString(out, event.outcome);
  PutU32(out, static_cast<std::uint32_t>(event.details.size()));
  for (const auto& [key, value] : event.details) {  // std::map: ascending byte order
    PutString(out, key);
    PutString(out, value);
  }
  return out;
}

AuditHash ComputeAuditHash(const AuditHash& prev_hash, const AuditEntry& entry) {
  std::vector<std::uint8_t> input(prev_hash.begin(), prev_hash.end());
  std::vector<std::uint8_t> encoding = CanonicalAuditEncoding(entry);
  input.insert(input.end(), encoding.begin(), encoding.end());
  AuditHash hash;
  unsigned int length = 0;
  // SHA-256 over memory cannot fail short of an allocation failure inside OpenSSL.
  if (EVP_Digest(input.data(), input.size(), hash.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != hash.size()) {
    std::abort();
  }
  return hash;
}

AuditEntry NextAuditEntry(const AuditHead& head, absl::Time time, AuditEvent event) {
  AuditEntry entry;
  entry.sequence = head.sequence + 1;
  entry.time = absl::FromUnixMicros(absl::ToUnixMicros(time));
  entry.event = std::move(event);
  entry.prev_hash = head.hash;
  entry.hash = ComputeAuditHash(entry.prev_hash, entry);
  return entry;
}

std::string AuditHashHex(const AuditHash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(hash.size() * 2);
  for (std::uint8_t byte : hash) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xf]);
  }
  return hex;
}

absl::StatusOr<AuditHash> AuditHashFromBytes(std::string_view bytes) {
  AuditHash hash;
  if (bytes.size() != hash.size()) {
    return absl::InvalidArgumentError(
        fmt::format("an audit hash is {} bytes, not {}", hash.size(), bytes.size()));
  }
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

absl::Status AuditChainVerifier::Add(const AuditEntry& entry) {
  if (!failure_.ok()) return failure_;
  const std::uint64_t expected = head_.sequence + 1;
  if (entry.sequence != expected) {
    failure_ = Broken(expected,
                      fmt::format("expected sequence {} but found {}", expected, entry.sequence));
  } else if (entry.prev_hash != head_.hash) {
    failure_ = Broken(entry.sequence, "its previous-entry hash does not match entry " +
                                          std::to_string(head_.sequence));
  } else if (ComputeAuditHash(entry.prev_hash, entry) != entry.hash) {
    failure_ = Broken(entry.sequence, "its contents do not match its hash");
  } else {
    head_ = AuditHead{entry.sequence, entry.hash};
  }
  return failure_;
}

}  // namespace cloak::kms
