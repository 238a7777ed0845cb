#pragma once

// VolumeLocks: one operation at a time per volume (DESIGN §4 step 1). A call that finds
// its volume busy does not queue behind it: CSI lets the plugin answer ABORTED, and the
// CO retries with backoff, which keeps a stuck operation from piling up threads.

#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace cloak {

class VolumeLocks {
 public:
  // Held for one operation; releases the volume when destroyed.
  class Guard {
   public:
    Guard(Guard&& other) noexcept : locks_(other.locks_), volume_id_(std::move(other.volume_id_)) {
      other.locks_ = nullptr;
    }
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    ~Guard();

   private:
    friend class VolumeLocks;
    Guard(VolumeLocks* locks, std::string volume_id)
        : locks_(locks), volume_id_(std::move(volume_id)) {}
    VolumeLocks* locks_;
    std::string volume_id_;
  };

  // The volume's lock, or ABORTED naming `operation` and the volume when another
  // operation holds it. Thread-safe.
  absl::StatusOr<Guard> TryLock(const std::string& volume_id, std::string_view operation);

  // Volumes locked now (tests). Thread-safe.
  std::size_t held() const;

 private:
  void Release(const std::string& volume_id);

  mutable std::mutex mutex_;
  std::set<std::string, std::less<>> held_;
};

}  // namespace cloak
