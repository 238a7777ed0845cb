// Conformance: KEK rotation, policies, the audit log and concurrency.

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "kms/store/audit_chain.h"
#include "kms/store/validation.h"
#include "tests/kms/store/key_store_conformance.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {
namespace {

using ::testing::SizeIs;

TEST_P(KeyStoreConformance, RewrapIsACompareAndSwapOnTheRevision) {
  Volume created = MustCreate(store(), TestVolume("pvc-1", 1));
  WrappedKey rewrapped = TestWrapped("rewrapped-under-2");
  absl::StatusOr<Volume> stale = store().RewrapVolume("pvc-1", created.revision + 1, rewrapped, 2,
                                                      TestEvent("RewrapVolumeKey"));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << stale.status();

  absl::StatusOr<Volume> done =
      store().RewrapVolume("pvc-1", created.revision, rewrapped, 2, TestEvent("RewrapVolumeKey"));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->kek_version, 2u);
  EXPECT_EQ(done->wrapped_dek, rewrapped);
  EXPECT_EQ(done->key_version, created.key_version);
  EXPECT_GT(done->revision, created.revision);
  EXPECT_EQ(store().GetVolumeKey("pvc-1")->wrapped_dek, rewrapped);

  // The revision read before the rewrap is now stale.
  EXPECT_EQ(store()
                .RewrapVolume("pvc-1", created.revision, TestWrapped("x"), 3,
                              TestEvent("RewrapVolumeKey"))
                .status()
                .code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(store().DestroyVolume("pvc-1", TestEvent("DestroyVolumeKey")).ok());
  EXPECT_EQ(store()
                .RewrapVolume("pvc-1", store().GetVolume("pvc-1")->revision, TestWrapped("x"), 3,
                              TestEvent("RewrapVolumeKey"))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(AllAudit(store()), SizeIs(3));
}

TEST_P(KeyStoreConformance, ListAndCountByKekVersionSeeOnlyLiveKeys) {
  for (int i = 0; i < 12; ++i) {
    MustCreate(store(), TestVolume("pvc-" + std::to_string(100 + i), i < 9 ? 1 : 2));
  }
  ASSERT_TRUE(store().DestroyVolume("pvc-100", TestEvent("DestroyVolumeKey")).ok());
  absl::StatusOr<std::map<std::uint32_t, std::int64_t>> counts = store().CountByKekVersion();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(*counts, (std::map<std::uint32_t, std::int64_t>{{1, 8}, {2, 3}}));

  std::vector<std::string> seen;
  std::string after;
  while (true) {
    absl::StatusOr<std::vector<Volume>> batch = store().ListByKekVersion(1, after, 3);
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (batch->empty()) break;
    for (const Volume& volume : *batch) {
      EXPECT_EQ(volume.kek_version, 1u);
      EXPECT_FALSE(volume.wrapped_dek.empty());
      seen.push_back(volume.volume_id);
    }
    after = batch->back().volume_id;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"pvc-101", "pvc-102", "pvc-103", "pvc-104", "pvc-105",
                                            "pvc-106", "pvc-107", "pvc-108"}));
  EXPECT_EQ(store().ListByKekVersion(1, "", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store().ListByKekVersion(7, "", 10)->empty());
}

TEST_P(KeyStoreConformance, RotationProgressIsPersistedAndCountsRewraps) {
  EXPECT_EQ(store().GetRotationProgress().status().code(), absl::StatusCode::kNotFound);
  for (int i = 0; i < 4; ++i) MustCreate(store(), TestVolume("pvc-" + std::to_string(i), 1));

  RotationProgress start = TestRotation(2, 4);
  EXPECT_EQ(store().PutRotationProgress(start, 1, TestEvent("RotateKek")).status().code(),
            absl::StatusCode::kAborted);
  absl::StatusOr<RotationProgress> begun =
      store().PutRotationProgress(start, 0, TestEvent("RotateKek"));
  ASSERT_TRUE(begun.ok()) << begun.status();
  EXPECT_EQ(begun->revision, 1);
  EXPECT_EQ(begun->started_at, clock().Now());
  EXPECT_EQ(begun->state, RotationState::kRunning);

  clock().Advance(absl::Seconds(1));
  absl::StatusOr<std::vector<Volume>> batch = store().ListByKekVersion(1, "", 3);
  ASSERT_TRUE(batch.ok());
  for (const Volume& volume : *batch) {
    ASSERT_TRUE(store()
                    .RewrapVolume(volume.volume_id, volume.revision, TestWrapped("v2"), 2,
                                  TestEvent("RewrapVolumeKey"))
                    .ok());
  }
  absl::StatusOr<RotationProgress> midway = store().GetRotationProgress();
  ASSERT_TRUE(midway.ok());
  EXPECT_EQ(midway->done, 3);
  EXPECT_EQ(midway->total, 4);
  EXPECT_EQ(midway->revision, 4);
  EXPECT_EQ(midway->started_at, begun->started_at);
  EXPECT_EQ(midway->updated_at, clock().Now());

  // A rewrap to another version does not count towards this rotation.
  Volume last = *store().GetVolume("pvc-3");
  ASSERT_TRUE(
      store()
          .RewrapVolume("pvc-3", last.revision, TestWrapped("v9"), 9, TestEvent("RewrapVolumeKey"))
          .ok());
  EXPECT_EQ(store().GetRotationProgress()->done, 3);

  RotationProgress finished = *midway;
  finished.state = RotationState::kCompleted;
  EXPECT_EQ(store()
                .PutRotationProgress(finished, begun->revision, TestEvent("RotateKek"))
                .status()
                .code(),
            absl::StatusCode::kAborted);
  absl::StatusOr<RotationProgress> completed =
      store().PutRotationProgress(finished, midway->revision, TestEvent("RotateKek"));
  ASSERT_TRUE(completed.ok()) << completed.status();
  EXPECT_EQ(completed->state, RotationState::kCompleted);
  EXPECT_EQ(*store().GetRotationProgress(), *completed);

  // A completed rotation no longer counts rewraps.
  Volume first = *store().GetVolume("pvc-0");
  ASSERT_TRUE(store()
                  .RewrapVolume("pvc-0", first.revision, TestWrapped("v2b"), 2,
                                TestEvent("RewrapVolumeKey"))
                  .ok());
  EXPECT_EQ(store().GetRotationProgress()->done, 3);
  EXPECT_EQ(
      store()
          .PutRotationProgress(TestRotation(0, 0), completed->revision, TestEvent("RotateKek"))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_P(KeyStoreConformance, PoliciesAreVersionedWithOptimisticConcurrency) {
  EXPECT_EQ(store().GetPolicy("attestation", 0).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<PolicyRecord> v1 =
      store().PutPolicy("attestation", R"({"min_tcb":1})", 0, TestEvent("SetPolicy"));
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->created_at, clock().Now());
  clock().Advance(absl::Minutes(1));
  absl::StatusOr<PolicyRecord> v2 =
      store().PutPolicy("attestation", R"({"min_tcb":2})", 1, TestEvent("SetPolicy"));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(store().PutPolicy("attestation", "{}", 1, TestEvent("SetPolicy")).status().code(),
            absl::StatusCode::kAborted);

  EXPECT_EQ(*store().GetPolicy("attestation", 0), *v2);
  EXPECT_EQ(*store().GetPolicy("attestation", 1), *v1);
  EXPECT_EQ(store().GetPolicy("attestation", 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().GetPolicy("other", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().PutPolicy("Bad Name", "{}", 0, TestEvent("SetPolicy")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().PutPolicy("x", "", 0, TestEvent("SetPolicy")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(AllAudit(store()), SizeIs(2));
}

TEST_P(KeyStoreConformance, AuditLogIsAChainThatVerifies) {
  absl::StatusOr<AuditHead> empty = store().VerifyAuditChain();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->sequence, 0u);

  MustCreate(store(), TestVolume("pvc-1"));
  AuditEvent release = TestEvent("GetVolumeKey");
  release.volume_id = "pvc-1";
  release.details["identity"] = "sha384:abcd";
  clock().Advance(absl::Milliseconds(1));
  absl::StatusOr<AuditEntry> appended = store().AppendAudit(release);
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->sequence, 2u);
  EXPECT_EQ(appended->event, release);
  AuditEvent denied = TestEvent("Attest", "PERMISSION_DENIED");
  ASSERT_TRUE(store().AppendAudit(denied).ok());
  ASSERT_TRUE(store().DestroyVolume("pvc-1", TestEvent("DestroyVolumeKey")).ok());

  std::vector<AuditEntry> audit = AllAudit(store());
  ASSERT_THAT(audit, SizeIs(4));
  AuditHash previous{};
  for (std::size_t i = 0; i < audit.size(); ++i) {
    EXPECT_EQ(audit[i].sequence, i + 1);
    EXPECT_EQ(audit[i].prev_hash, previous);
    EXPECT_EQ(audit[i].hash, ComputeAuditHash(previous, audit[i]));
    previous = audit[i].hash;
  }
  EXPECT_EQ(audit[1], *appended);
  EXPECT_EQ(audit[2].event.volume_id, "");

  absl::StatusOr<AuditHead> head = store().VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 4u);
  EXPECT_EQ(head->hash, audit.back().hash);

  absl::StatusOr<std::vector<AuditEntry>> tail = store().ListAudit(3, 1);
  ASSERT_TRUE(tail.ok());
  ASSERT_THAT(*tail, SizeIs(1));
  EXPECT_EQ((*tail)[0], audit[2]);
  EXPECT_TRUE(store().ListAudit(5, 10)->empty());
  EXPECT_EQ(store().ListAudit(1, -1).status().code(), absl::StatusCode::kInvalidArgument);
  AuditEvent evidence = TestEvent("Attest");
  evidence.details["evidence"] = "AAAA";
  EXPECT_EQ(store().AppendAudit(evidence).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(KeyStoreConformance, ConcurrentCreatesOfOneIdYieldExactlyOneRecord) {
  constexpr int kThreads = 8;
  std::vector<Volume> results(kThreads);
  std::vector<absl::Status> statuses(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      NewVolume volume = TestVolume("pvc-race");
      volume.wrapped_dek = TestWrapped("caller-" + std::to_string(t));
      statuses[t] = store().CreateVolume(volume, TestEvent("CreateVolumeKey"), &results[t]);
    });
  }
  for (std::thread& thread : threads) thread.join();
  int created = 0;
  for (int t = 0; t < kThreads; ++t) {
    if (statuses[t].ok()) {
      ++created;
    } else {
      EXPECT_EQ(statuses[t].code(), absl::StatusCode::kAlreadyExists) << statuses[t];
    }
    EXPECT_EQ(results[t], results[0]);
  }
  EXPECT_EQ(created, 1);
  EXPECT_THAT(AllAudit(store()), SizeIs(1));
}

TEST_P(KeyStoreConformance, ConcurrentMutationsKeepTheChainIntact) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "pvc-" + std::to_string(t) + "-" + std::to_string(i);
        Volume stored;
        if (!store().CreateVolume(TestVolume(id), TestEvent("CreateVolumeKey"), &stored).ok()) {
          ++failures;
        }
        if (!store().AppendAudit(TestEvent("GetVolumeKey")).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<AuditHead> head = store().VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 2u * kThreads * kPerThread);
}

// Many concurrent key releases (AppendAudit alone): every caller gets its own entry,
// in one gap-free chain, with nothing lost or doubled (stores group-commit these).
TEST_P(KeyStoreConformance, ConcurrentAppendsGetDistinctEntriesOfOneChain) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::map<std::uint64_t, std::string> by_sequence;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        AuditEvent event = TestEvent("GetVolumeKey");
        event.volume_id = "pvc-" + std::to_string(t) + "-" + std::to_string(i);
        absl::StatusOr<AuditEntry> entry = store().AppendAudit(event);
        if (!entry.ok() || entry->event.volume_id != event.volume_id) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mutex);
        if (!by_sequence.emplace(entry->sequence, event.volume_id).second) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(by_sequence.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(by_sequence.begin()->first, 1u);
  EXPECT_EQ(by_sequence.rbegin()->first, static_cast<std::uint64_t>(kThreads * kPerThread));
  absl::StatusOr<AuditHead> head = store().VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, static_cast<std::uint64_t>(kThreads * kPerThread));
  std::vector<AuditEntry> audit = AllAudit(store());
  ASSERT_EQ(audit.size(), by_sequence.size());
  for (const AuditEntry& entry : audit) {
    EXPECT_EQ(by_sequence[entry.sequence], entry.event.volume_id) << entry.sequence;
  }
}

}  // namespace
}  // namespace cloak::kms
