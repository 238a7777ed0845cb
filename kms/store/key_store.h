#pragma once

// KeyStore: the key service's persistent state — volumes with their wrapped keys,
// policy documents, KEK rotation progress — and the hash-chained audit log.
//
// Every mutation takes the AuditEvent that describes it and appends it in the same
// transaction: either the change and its audit entry are both stored, or neither is.
// Implementations: SqliteKeyStore (kms/store/sqlite_key_store.h), EtcdKeyStore
// (kms/store/etcd_key_store.h) and the in-memory FakeKeyStore for tests
// (kms/store/testing/fake_key_store.h); all pass the conformance suite in tests/kms/store/.
//
// Status codes shared by every method: INVALID_ARGUMENT for malformed input (naming
// the field), UNAVAILABLE when the backing store cannot be reached or stays locked
// past its timeout (retry later), INTERNAL when it holds something it cannot read.

#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kms/store/audit.h"
#include "kms/store/policy.h"
#include "kms/store/rotation.h"
#include "kms/store/volume.h"

namespace cloak::kms {

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // --- Volumes ---

  // Inserts `volume` in state created. Thread-safe. OK: *stored is the new row;
  // ALREADY_EXISTS: *stored is the existing row (tombstones included), nothing written.
  virtual absl::Status CreateVolume(const NewVolume& volume, const AuditEvent& event,
                                    Volume* stored) = 0;

  // The row for `volume_id`, tombstones included. Thread-safe. NOT_FOUND when unknown.
  virtual absl::StatusOr<Volume> GetVolume(std::string_view volume_id) = 0;

  // The row for `volume_id` when it still has a key. Thread-safe. NOT_FOUND when
  // unknown or destroyed.
  virtual absl::StatusOr<Volume> GetVolumeKey(std::string_view volume_id) = 0;

  // Moves the volume from `expected` to `next` (only created → formatted is allowed).
  // Thread-safe. NOT_FOUND; FAILED_PRECONDITION when the current state is not
  // `expected`; INVALID_ARGUMENT for any other transition.
  virtual absl::StatusOr<Volume> CompareAndSetState(std::string_view volume_id,
                                                    VolumeState expected, VolumeState next,
                                                    const AuditEvent& event) = 0;

  // Crypto-shreds the volume: its wrapped key is erased and a destroyed tombstone
  // stays. Idempotent (a tombstone answers OK and the event is still appended).
  // Thread-safe. NOT_FOUND when the id was never stored.
  virtual absl::StatusOr<Volume> DestroyVolume(std::string_view volume_id,
                                               const AuditEvent& event) = 0;

  // Creates clone.volume_id sharing the source's wrapped key. Thread-safe. OK: *stored
  // is the new row; ALREADY_EXISTS: *stored is the existing row; NOT_FOUND: no source;
  // FAILED_PRECONDITION: the source is destroyed.
  virtual absl::Status CloneVolume(const CloneRequest& clone, const AuditEvent& event,
                                   Volume* stored) = 0;

  // One page of volumes in ascending id order, tombstones included. Thread-safe.
  // INVALID_ARGUMENT for a negative page size or a token this store did not issue.
  virtual absl::StatusOr<VolumePage> ListVolumes(const ListVolumesRequest& request) = 0;

  // --- KEK rotation ---

  // Up to `limit` (1..kMaxPageSize) live volumes wrapped under `kek_version` whose id
  // sorts after `after_volume_id` (empty: from the start), ascending. Thread-safe.
  virtual absl::StatusOr<std::vector<Volume>> ListByKekVersion(std::uint32_t kek_version,
                                                               std::string_view after_volume_id,
                                                               int limit) = 0;

  // How many live volumes each KEK version wraps (versions with none are absent).
  // Thread-safe.
  virtual absl::StatusOr<std::map<std::uint32_t, std::int64_t>> CountByKekVersion() = 0;

  // Replaces the wrapped key if the row is still at `expected_revision`; when a
  // rotation to `new_kek_version` is running, its done count grows by one in the same
  // transaction. Thread-safe. NOT_FOUND when unknown or destroyed; ABORTED when the row
  // changed since it was read (read it again).
  virtual absl::StatusOr<Volume> RewrapVolume(std::string_view volume_id,
                                              std::int64_t expected_revision,
                                              const WrappedKey& new_wrapped,
                                              std::uint32_t new_kek_version,
                                              const AuditEvent& event) = 0;

  // The rotation record. Thread-safe. NOT_FOUND when no rotation was ever started.
  virtual absl::StatusOr<RotationProgress> GetRotationProgress() = 0;

  // Writes the rotation record if it is still at `expected_revision` (0: none exists).
  // Thread-safe. ABORTED when the record changed since it was read.
  virtual absl::StatusOr<RotationProgress> PutRotationProgress(const RotationProgress& progress,
                                                               std::int64_t expected_revision,
                                                               const AuditEvent& event) = 0;

  // --- Policies ---

  // Stores `document` as the next version of policy `name` if the latest version is
  // still `expected_version` (0: none exists). Thread-safe. ABORTED otherwise.
  virtual absl::StatusOr<PolicyRecord> PutPolicy(std::string_view name, std::string_view document,
                                                 std::int64_t expected_version,
                                                 const AuditEvent& event) = 0;

  // Version `version` of policy `name`, or the latest for version 0. Thread-safe.
  // NOT_FOUND when there is no such policy or version.
  virtual absl::StatusOr<PolicyRecord> GetPolicy(std::string_view name, std::int64_t version) = 0;

  // --- Audit ---

  // Appends an event that goes with no mutation (a key release, a denied call).
  // Thread-safe. Returns the stored entry.
  virtual absl::StatusOr<AuditEntry> AppendAudit(const AuditEvent& event) = 0;

  // Up to `limit` (0: kDefaultPageSize; capped at kMaxPageSize) entries from
  // `from_sequence` on, in order. Thread-safe.
  virtual absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::uint64_t from_sequence,
                                                            int limit) = 0;

  // Recomputes the whole chain. Thread-safe. OK with the head; DATA_LOSS naming the
  // first broken sequence number.
  virtual absl::StatusOr<AuditHead> VerifyAuditChain() = 0;
};

}  // namespace cloak::kms
