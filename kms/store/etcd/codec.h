#pragma once

// Where EtcdKeyStore keeps things in etcd, and how each value is encoded.
//
// Keys, under a configurable prefix P (default "/cloak/v1/", always ending in '/'):
//   P volumes/<volume id>                        one volume row, tombstones included
//   P kek/<10-digit KEK version>/<volume id>     a copy of each live row, by KEK version
//   P audit/<20-digit sequence>                  one audit entry
//   P audit-head                                 the last entry's sequence and hash
//   P rotation                                   the KEK rotation record
//   P policies/<name>/<20-digit version>         one version of a policy document
// Zero-padded numbers make etcd's byte order the numeric order, so a range read returns
// entries and versions in sequence. Volume ids compare as bytes, as in SQLite.
//
// Values are JSON objects with a "format": 1 member; binary fields (wrapped keys,
// hashes) are lower-case hex and times are Unix microseconds.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kms/store/audit.h"
#include "kms/store/policy.h"
#include "kms/store/rotation.h"
#include "kms/store/volume.h"

namespace cloak::kms::etcd {

// The smallest key greater than every key that starts with `prefix` (etcd's range end
// for a prefix read).
std::string PrefixEnd(std::string_view prefix);

class KeyLayout {
 public:
  // `prefix` gets a trailing '/' when it lacks one.
  explicit KeyLayout(std::string prefix);

  const std::string& prefix() const { return prefix_; }
  std::string Volume(std::string_view volume_id) const;
  std::string VolumesPrefix() const;
  std::string Kek(std::uint32_t kek_version, std::string_view volume_id) const;
  std::string KekPrefix(std::uint32_t kek_version) const;
  std::string KeksPrefix() const;
  // The KEK version in a key from Kek(); INTERNAL for any other key.
  absl::StatusOr<std::uint32_t> KekVersionOf(std::string_view key) const;
  std::string Audit(std::uint64_t sequence) const;
  std::string AuditPrefix() const;
  std::string AuditHead() const;
  std::string Rotation() const;
  std::string Policy(std::string_view name, std::int64_t version) const;
  std::string PolicyPrefix(std::string_view name) const;

 private:
  std::string prefix_;
};

// Each Decode* answers INTERNAL naming `key` when the value is not what the matching
// Encode* writes.
std::string EncodeVolume(const Volume& volume);
absl::StatusOr<Volume> DecodeVolume(std::string_view value, std::string_view key);

std::string EncodeAuditEntry(const AuditEntry& entry);
absl::StatusOr<AuditEntry> DecodeAuditEntry(std::string_view value, std::string_view key);

std::string EncodeAuditHead(const AuditHead& head);
absl::StatusOr<AuditHead> DecodeAuditHead(std::string_view value, std::string_view key);

std::string EncodeRotation(const RotationProgress& progress);
absl::StatusOr<RotationProgress> DecodeRotation(std::string_view value, std::string_view key);

std::string EncodePolicy(const PolicyRecord& record);
absl::StatusOr<PolicyRecord> DecodePolicy(std::string_view value, std::string_view key);

}  // namespace cloak::kms::etcd
