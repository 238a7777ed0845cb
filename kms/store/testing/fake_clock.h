#pragma once

// A Clock that tests move by hand. Thread-safe.

#include <mutex>

#include "absl/time/time.h"
#include "kms/store/clock.h"

namespace cloak::kms {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void Advance(absl::Duration duration) {
    std::lock_guard lock(mutex_);
    now_ += duration;
  }
  void Set(absl::Time time) {
    std::lock_guard lock(mutex_);
    now_ = time;
  }

 private:
  mutable std::mutex mutex_;
  absl::Time now_;
};

}  // namespace cloak::kms
