#include "kms/server/rotation_runner.h"

#include <chrono>
#include <string>

namespace cloak::kms::server {
namespace {

constexpr int kRetrySeconds = 1;
constexpr int kLogEverySteps = 20;

LogFields ProgressFields(const RotationProgress& progress) {
  return {{"target_kek_version", std::to_string(progress.target_kek_version)},
          {"done", std::to_string(progress.done)},
          {"total", std::to_string(progress.total)}};
}

bool Transient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

}  // namespace

RotationRunner::RotationRunner(KekRotator& rotator, std::shared_ptr<Logger> logger,
                               const FaultPoints& faults)
    : rotator_(rotator), logger_(std::move(logger)), faults_(faults) {
  worker_ = std::thread([this] { Loop(); });
}

RotationRunner::~RotationRunner() { Stop(); }

void RotationRunner::Kick() {
  {
    std::lock_guard lock(mutex_);
    pending_ = true;
  }
  wake_.notify_all();
}

void RotationRunner::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

bool RotationRunner::SleepUnlessStopped(int seconds) {
  std::unique_lock lock(mutex_);
  return wake_.wait_for(lock, std::chrono::seconds(seconds), [this] { return stopping_; });
}

void RotationRunner::Loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return pending_ || stopping_; });
      if (stopping_) return;
      pending_ = false;
    }
    RunRotation();
  }
}

void RotationRunner::RunRotation() {
  int failures = 0;
  for (int step = 1;; ++step) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        if (logger_)
          logger_->Info("KEK rotation paused for shutdown; it resumes at the next start");
        return;
      }
    }
    absl::StatusOr<RotationProgress> progress = rotator_.Step();
    if (!progress.ok()) {
      if (progress.status().code() == absl::StatusCode::kFailedPrecondition) {
        // No rotation is running (it completed, or another replica finished it).
        if (logger_) {
          logger_->Debug("KEK rotation runner idle",
                         {{"reason", std::string(progress.status().message())}});
        }
        return;
      }
      failures = Transient(progress.status()) ? 0 : failures + 1;
      if (failures >= kMaxStepFailures) {
        RecordFailure(progress.status());
        return;
      }
      if (logger_) {
        logger_->Error("KEK rotation step failed; retrying",
                       {{"error", std::string(progress.status().message())},
                        {"retry_in_s", std::to_string(kRetrySeconds)}});
      }
      if (SleepUnlessStopped(kRetrySeconds)) return;
      continue;
    }
    failures = 0;
    faults_.Hit("kms.server.rotation.after_step");
    if (progress->state != RotationState::kRunning) {
      if (logger_) logger_->Info("KEK rotation completed", ProgressFields(*progress));
      return;
    }
    if (logger_ && step % kLogEverySteps == 0) {
      logger_->Info("KEK rotation progress", ProgressFields(*progress));
    }
  }
}

void RotationRunner::RecordFailure(const absl::Status& why) {
  absl::StatusOr<RotationProgress> failed = rotator_.MarkFailed(why);
  if (!logger_) return;
  if (!failed.ok()) {
    logger_->Error("KEK rotation failed and could not be recorded as failed",
                   {{"error", std::string(why.message())},
                    {"record_error", std::string(failed.status().message())}});
    return;
  }
  LogFields fields = ProgressFields(*failed);
  fields.emplace_back("error", std::string(why.message()));
  fields.emplace_back("fix", "fix the cause, then run `cloakctl kek rotate` to resume");
  logger_->Error("KEK rotation failed", fields);
}

}  // namespace cloak::kms::server
