// AuditBatcher: concurrent appends share commits, each caller gets its own entry, a
// failed commit fails every caller in it and nobody else, and no event is lost or
// committed twice.

#include "kms/store/audit_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"

namespace cloak::kms {
namespace {

AuditEvent Event(std::string actor, std::string action = "GetVolumeKey") {
  AuditEvent event;
  event.actor = std::move(actor);
  event.action = std::move(action);
  return event;
}

// An in-memory chain: sequence numbers only, plus a switch that fails the next commit.
struct FakeLog {
  std::mutex mutex;
  std::vector<AuditEvent> committed;
  std::atomic<bool> fail_next{false};
  std::atomic<int> commits{0};

  absl::StatusOr<std::vector<AuditEntry>> Commit(const std::vector<AuditEvent>& events) {
    ++commits;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a durable write
    if (fail_next.exchange(false)) return absl::UnavailableError("disk went away");
    std::lock_guard lock(mutex);
    std::vector<AuditEntry> entries;
    for (const AuditEvent& event : events) {
      committed.push_back(event);
      AuditEntry entry;
      entry.sequence = committed.size();
      entry.event = event;
      entries.push_back(entry);
    }
    return entries;
  }
};

TEST(AuditBatcherTest, ConcurrentAppendsShareCommitsAndKeepTheirOwnEntries) {
  FakeLog log;
  AuditBatcher batcher([&](const auto& events) { return log.Commit(events); }, 64);
  constexpr int kThreads = 16, kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  std::mutex seen_mutex;
  std::set<std::uint64_t> sequences;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        AuditEvent event = Event(absl::StrCat("t", t), absl::StrCat("a", i));
        absl::StatusOr<AuditEntry> entry = batcher.Append(event);
        if (!entry.ok() || !(entry->event == event)) {
          ++mismatches;
          continue;
        }
        std::lock_guard lock(seen_mutex);
        sequences.insert(entry->sequence);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(sequences.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(log.committed.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(batcher.committed_events(), static_cast<std::size_t>(kThreads * kPerThread));
  // 16 writers against a 2 ms commit: far fewer commits than events.
  EXPECT_LT(log.commits.load(), kThreads * kPerThread / 2);
  EXPECT_EQ(static_cast<int>(batcher.commits()), log.commits.load());
}

TEST(AuditBatcherTest, BatchesNeverExceedTheLimit) {
  std::atomic<std::size_t> largest{0};
  AuditBatcher batcher(
      [&](const std::vector<AuditEvent>& events) -> absl::StatusOr<std::vector<AuditEntry>> {
        std::size_t seen = largest.load();
        while (events.size() > seen && !largest.compare_exchange_weak(seen, events.size())) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        return std::vector<AuditEntry>(events.size());
      },
      3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(batcher.Append(AuditEvent{}).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(largest.load(), 3u);
  EXPECT_EQ(batcher.committed_events(), 120u);
}

TEST(AuditBatcherTest, AFailedCommitFailsItsCallersOnly) {
  FakeLog log;
  AuditBatcher batcher([&](const auto& events) { return log.Commit(events); }, 64);
  log.fail_next = true;
  absl::StatusOr<AuditEntry> failed = batcher.Append(Event("first"));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(log.committed.empty());
  absl::StatusOr<AuditEntry> next = batcher.Append(Event("second"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->sequence, 1u);
  EXPECT_EQ(next->event.actor, "second");
}

TEST(AuditBatcherTest, ACommitReturningTheWrongCountIsAnError) {
  AuditBatcher batcher(
      [](const std::vector<AuditEvent>&) -> absl::StatusOr<std::vector<AuditEntry>> {
        return std::vector<AuditEntry>{};
      },
      8);
  EXPECT_EQ(batcher.Append(AuditEvent{}).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace cloak::kms
