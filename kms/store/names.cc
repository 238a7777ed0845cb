// String forms of the store's enums, as stored and as shown to operators.

#include "fmt/format.h"
#include "kms/store/rotation.h"
#include "kms/store/volume.h"

namespace cloak::kms {

std::string_view VolumeStateName(VolumeState state) {
  switch (state) {
    case VolumeState::kCreated:
      return "created";
    case VolumeState::kFormatted:
      return "formatted";
    case VolumeState::kDestroyed:
      return "destroyed";
  }
  return "unknown";
}

absl::StatusOr<VolumeState> ParseVolumeState(std::string_view name) {
  for (VolumeState state :
       {VolumeState::kCreated, VolumeState::kFormatted, VolumeState::kDestroyed}) {
    if (name == VolumeStateName(state)) return state;
  }
  return absl::InvalidArgumentError(
      fmt::format("volume state '{}' is not one of created, formatted, destroyed", name));
}

std::string_view RotationStateName(RotationState state) {
  switch (state) {
    case RotationState::kRunning:
      return "running";
    case RotationState::kCompleted:
      return "completed";
    case RotationState::kFailed:
      return "failed";
  }
  return "unknown";
}

absl::StatusOr<RotationState> ParseRotationState(std::string_view name) {
  for (RotationState state :
       {RotationState::kRunning, RotationState::kCompleted, RotationState::kFailed}) {
    if (name == RotationStateName(state)) return state;
  }
  return absl::InvalidArgumentError(
      fmt::format("rotation state '{}' is not one of running, completed, failed", name));
}

}  // namespace cloak::kms
