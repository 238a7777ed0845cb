#include "kms/service/kek_rotator.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kms/crypto/key_binding.h"

namespace cloak::kms {
namespace {

AuditEvent Event(const std::string& actor, std::string action, std::string volume_id,
                 std::uint32_t target) {
  return AuditEvent{.actor = actor,
                    .action = std::move(action),
                    .volume_id = std::move(volume_id),
                    .outcome = "ok",
                    .details = {{"kek_version", absl::StrCat(target)}}};
}

std::int64_t CountOlderThan(const std::map<std::uint32_t, std::int64_t>& counts,
                            std::uint32_t target) {
  std::int64_t total = 0;
  for (const auto& [version, count] : counts) {
    if (version != target) total += count;
  }
  return total;
}

}  // namespace

absl::StatusOr<RotationProgress> KekRotator::Start() {
  absl::StatusOr<RotationProgress> current = store_.GetRotationProgress();
  std::int64_t expected_revision = 0;
  if (current.ok()) {
    if (current->state == RotationState::kRunning) return *current;
    expected_revision = current->revision;
    if (current->state == RotationState::kFailed &&
        current->target_kek_version == keks_.CurrentVersion()) {
      RotationProgress resumed = *current;
      resumed.state = RotationState::kRunning;
      AuditEvent event = Event(options_.actor, "RotateKek", "", resumed.target_kek_version);
      event.details["resumed"] = "true";
      return store_.PutRotationProgress(resumed, expected_revision, event);
    }
  } else if (current.status().code() != absl::StatusCode::kNotFound) {
    return current.status();
  }
  ASSIGN_OR_RETURN(std::uint32_t target, versions_.AddVersion());
  ASSIGN_OR_RETURN(auto counts, store_.CountByKekVersion());
  RotationProgress progress;
  progress.target_kek_version = target;
  progress.total = CountOlderThan(counts, target);
  progress.state = RotationState::kRunning;
  return store_.PutRotationProgress(progress, expected_revision,
                                    Event(options_.actor, "RotateKek", "", target));
}

absl::StatusOr<RotationProgress> KekRotator::Step() {
  absl::StatusOr<RotationProgress> current = store_.GetRotationProgress();
  if (current.status().code() == absl::StatusCode::kNotFound) {
    return absl::FailedPreconditionError("no KEK rotation was ever started; call RotateKek");
  }
  ASSIGN_OR_RETURN(RotationProgress progress, std::move(current));
  if (progress.state != RotationState::kRunning) {
    return absl::FailedPreconditionError("no KEK rotation is running; call RotateKek");
  }
  const std::uint32_t target = progress.target_kek_version;
  ASSIGN_OR_RETURN(auto counts, store_.CountByKekVersion());
  int budget = options_.batch_size;
  for (const auto& [version, count] : counts) {
    if (version == target || count == 0) continue;
    // From the start each time: rewrapped rows leave this version's list.
    ASSIGN_OR_RETURN(std::vector<Volume> batch, store_.ListByKekVersion(version, "", budget));
    for (const Volume& volume : batch) {
      const std::vector<std::uint8_t> aad = WrapAad(volume.key_id, volume.key_version);
      ASSIGN_OR_RETURN(SecretBytes dek,
                       keks_.Unwrap(volume.kek_version, volume.wrapped_dek.ciphertext(), aad));
      ASSIGN_OR_RETURN(std::vector<std::uint8_t> wrapped, keks_.Wrap(target, dek, aad));
      dek.Clear();
      absl::StatusOr<Volume> rewrapped = store_.RewrapVolume(
          volume.volume_id, volume.revision, WrappedKey(std::move(wrapped)), target,
          Event(options_.actor, "RewrapVolumeKey", volume.volume_id, target));
      // ABORTED: changed since read (retried in a later step); NOT_FOUND: destroyed.
      if (!rewrapped.ok() && rewrapped.status().code() != absl::StatusCode::kAborted &&
          rewrapped.status().code() != absl::StatusCode::kNotFound) {
        return rewrapped.status();
      }
    }
    budget -= static_cast<int>(batch.size());
    if (budget <= 0) break;
  }
  ASSIGN_OR_RETURN(counts, store_.CountByKekVersion());
  ASSIGN_OR_RETURN(progress, store_.GetRotationProgress());
  if (CountOlderThan(counts, target) == 0) return Complete(std::move(progress));
  return progress;
}

absl::StatusOr<RotationProgress> KekRotator::Complete(RotationProgress progress) {
  ASSIGN_OR_RETURN(auto counts, store_.CountByKekVersion());
  for (const KekVersionInfo& info : keks_.Versions()) {
    if (info.version == progress.target_kek_version || info.state == KekState::kRetired) continue;
    if (counts.contains(info.version)) continue;  // still in use: never retire it
    RETURN_IF_ERROR(versions_.Retire(info.version));
  }
  const std::int64_t expected = progress.revision;
  progress.state = RotationState::kCompleted;
  return store_.PutRotationProgress(
      progress, expected,
      Event(options_.actor, "RotateKekCompleted", "", progress.target_kek_version));
}

absl::StatusOr<RotationProgress> KekRotator::MarkFailed(const absl::Status& why) {
  ASSIGN_OR_RETURN(RotationProgress progress, store_.GetRotationProgress());
  if (progress.state != RotationState::kRunning) {
    return absl::FailedPreconditionError("no KEK rotation is running; nothing to mark failed");
  }
  const std::int64_t expected = progress.revision;
  progress.state = RotationState::kFailed;
  AuditEvent event = Event(options_.actor, "RotateKekFailed", "", progress.target_kek_version);
  event.outcome = "error";
  event.details["error"] = std::string(why.message());
  return store_.PutRotationProgress(progress, expected, event);
}

absl::StatusOr<RotationProgress> KekRotator::RunToCompletion() {
  while (true) {
    ASSIGN_OR_RETURN(RotationProgress progress, Step());
    if (progress.state != RotationState::kRunning) return progress;
  }
}

}  // namespace cloak::kms
