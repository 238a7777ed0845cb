#pragma once

// Clock: where the key store reads the time it stamps on rows and audit entries.
// Injected so that tests control time.

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cloak::kms {

class Clock {
 public:
  virtual ~Clock() = default;
  // The current time. Thread-safe; never fails.
  virtual absl::Time Now() const = 0;
};

// The wall clock.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace cloak::kms
