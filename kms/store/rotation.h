#pragma once

// The persistent progress of a KEK rotation, so that a key service that crashes
// half-way resumes where it stopped. There is at most one record per store.

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cloak::kms {

// running: rewrapping is under way (or was, when the service crashed); completed:
// nothing is wrapped under an older KEK version any more; failed: stopped with an error
// that an operator has to look at.
enum class RotationState { kRunning, kCompleted, kFailed };

// "running", "completed", "failed".
std::string_view RotationStateName(RotationState state);
// INVALID_ARGUMENT for any other name.
absl::StatusOr<RotationState> ParseRotationState(std::string_view name);

struct RotationProgress {
  std::uint32_t target_kek_version = 0;
  std::int64_t done = 0;   // volumes rewrapped to target_kek_version so far
  std::int64_t total = 0;  // volumes that needed rewrapping when the rotation began
  RotationState state = RotationState::kRunning;
  // Set by the store: started_at when the target version changes, updated_at always.
  absl::Time started_at;
  absl::Time updated_at;
  // 0 when no record exists; grows by one with every change (RewrapVolume's automatic
  // increment of `done` included).
  std::int64_t revision = 0;

  friend bool operator==(const RotationProgress&, const RotationProgress&) = default;
};

}  // namespace cloak::kms
