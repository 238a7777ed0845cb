#pragma once

// RotationRunner: drives a KEK rotation in the background, one KekRotator::Step() at a
// time, so that RotateKek answers at once, progress is logged, and shutdown can stop
// between steps (a stopped rotation resumes at the next start: its progress is in the
// store). Fault point "kms.server.rotation.after_step" fires after every step.
//
// A step that fails because the store or the token is briefly unreachable (UNAVAILABLE,
// ABORTED, DEADLINE_EXCEEDED) is retried every second for as long as it takes. Any other
// error (a DEK that does not unwrap, a token that refuses the new KEK) that repeats
// kMaxStepFailures times in a row is recorded: the rotation becomes failed, with the
// error in the audit log and the service log, and waits for an operator (RotateKek
// resumes it once the cause is fixed).

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
  static constexpr int kMaxStepFailures = 3;

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
  // Marks the rotation failed because of `why` and logs it.
  void RecordFailure(const absl::Status& why);
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
