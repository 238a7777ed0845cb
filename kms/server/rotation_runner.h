#pragma once

// RotationRunner: drives a KEK rotation in the background, one KekRotator::Step() at a
// time, so that RotateKek answers at once, progress is logged, and shutdown can stop
// between steps (a stopped rotation resumes at the next start: its progress is in the
// store). Fault point "kms.server.rotation.after_step" fires after every step.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/fault_injection.h"
#include "common/logging.h"
#include "kms/service/kek_rotator.h"

namespace cloak::kms::server {

class RotationRunner {
 public:
  // `rotator` and `faults` must outlive the runner; `logger` may be null.
  RotationRunner(KekRotator& rotator, std::shared_ptr<Logger> logger, const FaultPoints& faults);
  ~RotationRunner();
  RotationRunner(const RotationRunner&) = delete;
  RotationRunner& operator=(const RotationRunner&) = delete;

  // Makes the worker run the rotation that is now running to completion (a no-op when it
  // already does). Thread-safe.
  void Kick();

  // Stops after the current step and joins the worker. Idempotent; thread-safe.
  void Stop();

 private:
  void Loop();
  void RunRotation();
  // Waits up to `seconds` or until Stop(); true when stopping.
  bool SleepUnlessStopped(int seconds);

  KekRotator& rotator_;
  std::shared_ptr<Logger> logger_;
  const FaultPoints& faults_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace cloak::kms::server
