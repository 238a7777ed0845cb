#pragma once

// FakeKeyStore: an in-memory KeyStore for unit tests of the key service. It follows
// the same contract as SqliteKeyStore — the shared conformance suite in
// tests/kms/store/ runs against both — and adds hooks to inject failures and to
// tamper with the audit log. One mutex guards everything; every method is thread-safe.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kms/store/clock.h"
#include "kms/store/key_store.h"

namespace cloak::kms {

class FakeKeyStore final : public KeyStore {
 public:
  // `clock` must outlive the store.
  explicit FakeKeyStore(const Clock& clock) : clock_(clock) {}

  absl::Status CreateVolume(const NewVolume& volume, const AuditEvent& event,
                            Volume* stored) override;
  absl::StatusOr<Volume> GetVolume(std::string_view volume_id) override;
  absl::StatusOr<Volume> GetVolumeKey(std::string_view volume_id) override;
  absl::StatusOr<Volume> CompareAndSetState(std::string_view volume_id, VolumeState expected,
                                            VolumeState next, const AuditEvent& event) override;
  absl::StatusOr<Volume> DestroyVolume(std::string_view volume_id,
                                       const AuditEvent& event) override;
  absl::Status CloneVolume(const CloneRequest& clone, const AuditEvent& event,
                           Volume* stored) override;
  absl::StatusOr<VolumePage> ListVolumes(const ListVolumesRequest& request) override;
  absl::StatusOr<std::vector<Volume>> ListByKekVersion(std::uint32_t kek_version,
                                                       std::string_view after_volume_id,
                                                       int limit) override;
  absl::StatusOr<std::map<std::uint32_t, std::int64_t>> CountByKekVersion() override;
  absl::StatusOr<Volume> RewrapVolume(std::string_view volume_id, std::int64_t expected_revision,
                                      const WrappedKey& new_wrapped, std::uint32_t new_kek_version,
                                      const AuditEvent& event) override;
  absl::StatusOr<RotationProgress> GetRotationProgress() override;
  absl::StatusOr<RotationProgress> PutRotationProgress(const RotationProgress& progress,
                                                       std::int64_t expected_revision,
                                                       const AuditEvent& event) override;
  absl::StatusOr<PolicyRecord> PutPolicy(std::string_view name, std::string_view document,
                                         std::int64_t expected_version,
                                         const AuditEvent& event) override;
  absl::StatusOr<PolicyRecord> GetPolicy(std::string_view name, std::int64_t version) override;
  absl::StatusOr<AuditEntry> AppendAudit(const AuditEvent& event) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::uint64_t from_sequence,
                                                    int limit) override;
  absl::StatusOr<AuditHead> VerifyAuditChain() override;

  // Test hooks. Every later call returns `status` until it is set back to OK, as an
  // unreachable store would.
  void SetUnavailable(absl::Status status);
  // Direct access to the stored audit entries, to tamper with them.
  template <typename Fn>
  void MutateAuditLog(Fn&& fn) {
    std::lock_guard lock(mutex_);
    fn(audit_);
  }

 private:
  AuditEntry AppendLocked(AuditEvent event);
  absl::StatusOr<Volume*> FindLocked(std::string_view volume_id);
  absl::Time NowLocked() const;

  const Clock& clock_;
  std::mutex mutex_;
  absl::Status unavailable_;
  std::map<std::string, Volume, std::less<>> volumes_;
  std::vector<AuditEntry> audit_;
  std::map<std::string, std::vector<PolicyRecord>, std::less<>> policies_;
  std::optional<RotationProgress> rotation_;
};

}  // namespace cloak::kms
