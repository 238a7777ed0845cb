#pragma once

// KekRotator: KEK rotation (docs/kms.md "Rotation"). Adds a KEK version, rewraps every
// live DEK under it in batches with the store's compare-and-swap, records progress in the
// store's rotation record, and retires an old version once nothing is wrapped under it.
// A crash at any point is safe: a fresh rotator resumes from the persisted record.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/kek_provider.h"
#include "kms/store/key_store.h"

namespace cloak::kms {

// The version-management half of a KEK provider, which KekProvider does not expose.
class KekVersionManager {
 public:
  virtual ~KekVersionManager() = default;
  // Adds a fresh KEK as the new current version. Thread-safe.
  virtual absl::StatusOr<std::uint32_t> AddVersion() = 0;
  // Retires `version` (OK when already retired). Thread-safe. FAILED_PRECONDITION for the
  // current version, NOT_FOUND for an unknown one.
  virtual absl::Status Retire(std::uint32_t version) = 0;
};

// Adapter over FileKekProvider; `provider` must outlive it.
class FileKekVersionManager final : public KekVersionManager {
 public:
  explicit FileKekVersionManager(FileKekProvider& provider) : provider_(provider) {}
  absl::StatusOr<std::uint32_t> AddVersion() override { return provider_.AddVersion(); }
  absl::Status Retire(std::uint32_t version) override { return provider_.Retire(version); }

 private:
  FileKekProvider& provider_;
};

class KekRotator {
 public:
  struct Options {
    int batch_size = 100;  // 1..kMaxPageSize
    std::string actor = "kek-rotator";
  };

  // Every reference must outlive the rotator.
  KekRotator(KeyStore& store, KekProvider& keks, KekVersionManager& versions, Options options)
      : store_(store), keks_(keks), versions_(versions), options_(std::move(options)) {}

  // Begins a rotation: adds a KEK version and records a running rotation to it. When a
  // rotation is already running (this replica crashed, or another started it), returns
  // that one unchanged; a failed rotation whose target is still the current KEK version
  // is resumed (running again, same target) instead of adding another version. Not for concurrent
  // use with itself; the store's compare-and-swap keeps concurrent rotators on other replicas
  // correct.
  absl::StatusOr<RotationProgress> Start();

  // Rewraps up to one batch of volumes under the running rotation's target. Returns the
  // progress; state completed once nothing older is in use (old versions are retired
  // then). FAILED_PRECONDITION when no rotation is running.
  absl::StatusOr<RotationProgress> Step();

  // Records the running rotation as failed because of `why` (audited as
  // RotateKekFailed with the error). Returns the record; FAILED_PRECONDITION when no
  // rotation is running; ABORTED when the record changed meanwhile.
  absl::StatusOr<RotationProgress> MarkFailed(const absl::Status& why);

  // Step() until the rotation completes or fails; errors are returned as they happen, so
  // a caller may simply call it again (or a fresh rotator may) to resume.
  absl::StatusOr<RotationProgress> RunToCompletion();

 private:
  absl::StatusOr<RotationProgress> Complete(RotationProgress progress);

  KeyStore& store_;
  KekProvider& keks_;
  KekVersionManager& versions_;
  const Options options_;
};

}  // namespace cloak::kms
