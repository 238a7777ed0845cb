#include "kms/store/audit_batcher.h"

#include "absl/status/status.h"

namespace cloak::kms {

AuditBatcher::AuditBatcher(CommitFn commit, std::size_t max_batch)
    : commit_(std::move(commit)), max_batch_(max_batch == 0 ? 1 : max_batch) {}

absl::StatusOr<AuditEntry> AuditBatcher::Append(const AuditEvent& event) {
  auto mine = std::make_shared<Pending>();
  mine->event = event;
  std::unique_lock lock(mutex_);
  queue_.push_back(mine);
  while (true) {
    // A leader takes queued events from the front, so an event not yet done is still
    // queued; when no leader runs, this caller leads the next commit. (A full batch
    // taken by another leader may leave it queued: then it waits for the next one.)
    finished_.wait(lock, [&] { return mine->done || !leader_active_; });
    if (mine->done) return mine->result;
    leader_active_ = true;
    std::vector<std::shared_ptr<Pending>> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();

    std::vector<AuditEvent> events;
    events.reserve(batch.size());
    for (const auto& pending : batch) events.push_back(pending->event);
    absl::StatusOr<std::vector<AuditEntry>> entries = commit_(events);
    if (entries.ok() && entries->size() != batch.size()) {
      entries = absl::InternalError("audit commit returned a different number of entries");
    }

    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i]->result = entries.ok() ? absl::StatusOr<AuditEntry>((*entries)[i])
                                      : absl::StatusOr<AuditEntry>(entries.status());
      batch[i]->done = true;
    }
    ++commits_;
    if (entries.ok()) committed_events_ += batch.size();
    leader_active_ = false;
    finished_.notify_all();
  }
}

std::size_t AuditBatcher::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

std::size_t AuditBatcher::committed_events() const {
  std::lock_guard lock(mutex_);
  return committed_events_;
}

}  // namespace cloak::kms
