#include "common/volume_locks.h"

#include "fmt/format.h"

namespace cloak {

VolumeLocks::Guard::~Guard() {
  if (locks_ != nullptr) locks_->Release(volume_id_);
}

absl::StatusOr<VolumeLocks::Guard> VolumeLocks::TryLock(const std::string& volume_id,
                                                        std::string_view operation) {
  std::lock_guard lock(mutex_);
  if (!held_.insert(volume_id).second) {
    return absl::AbortedError(
        fmt::format("{}: another operation on volume {} is in progress; retry when it has "
                    "finished",
                    operation, volume_id));
  }
  return Guard(this, volume_id);
}

std::size_t VolumeLocks::held() const {
  std::lock_guard lock(mutex_);
  return held_.size();
}

void VolumeLocks::Release(const std::string& volume_id) {
  std::lock_guard lock(mutex_);
  held_.erase(volume_id);
}

}  // namespace cloak
