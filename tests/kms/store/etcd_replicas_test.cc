// Two EtcdKeyStore "replicas" over one etcd: racing creates, one linear audit chain,
// shared rotation progress and policies; and an etcd outage and restart.

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "kms/store/etcd_key_store.h"
#include "kms/store/testing/fake_clock.h"
#include "tests/kms/store/etcd_test_server.h"
#include "tests/kms/store/key_store_conformance.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {
namespace {

std::unique_ptr<KeyStore> MustOpen(const std::string& endpoint, const std::string& prefix,
                                   const Clock& clock, absl::Duration timeout = absl::Seconds(10)) {
  EtcdOptions options;
  options.endpoints = {endpoint};
  options.key_prefix = prefix;
  options.clock = &clock;
  options.call_timeout = timeout;
  absl::StatusOr<std::unique_ptr<KeyStore>> store = OpenEtcdKeyStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Every entry of the log, in pages.
std::vector<AuditEntry> WholeAudit(KeyStore& store) {
  std::vector<AuditEntry> all;
  while (true) {
    absl::StatusOr<std::vector<AuditEntry>> page = store.ListAudit(all.size() + 1, kMaxPageSize);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok() || page->empty()) return all;
    all.insert(all.end(), page->begin(), page->end());
  }
}

// Sequence 1, 2, 3, ... and each prev_hash equal to the previous entry's hash: no fork.
void ExpectLinearChain(const std::vector<AuditEntry>& audit) {
  AuditHash previous{};
  for (std::size_t i = 0; i < audit.size(); ++i) {
    ASSERT_EQ(audit[i].sequence, i + 1);
    ASSERT_EQ(audit[i].prev_hash, previous) << "fork at sequence " << audit[i].sequence;
    previous = audit[i].hash;
  }
}

class EtcdReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = MustOpen(SharedEtcd().endpoint(), prefix_, clock_);
    b_ = MustOpen(SharedEtcd().endpoint(), prefix_, clock_);
    ASSERT_TRUE(a_ && b_);
  }

  FakeClock clock_;
  std::string prefix_ = UniqueEtcdPrefix();
  std::unique_ptr<KeyStore> a_;
  std::unique_ptr<KeyStore> b_;
};

TEST_F(EtcdReplicasTest, RacingCreatesOnTwoReplicasStoreOneRecordPerIdAndAgreeOnIt) {
  constexpr int kThreadsPerReplica = 6;
  constexpr int kIds = 25;
  struct Outcome {
    absl::Status status;
    Volume row;
  };
  // outcomes[thread][id]
  std::vector<std::vector<Outcome>> outcomes(2 * kThreadsPerReplica, std::vector<Outcome>(kIds));
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
    threads.emplace_back([&, t] {
      KeyStore& replica = t % 2 == 0 ? *a_ : *b_;
      std::vector<int> order(kIds);
      for (int i = 0; i < kIds; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(t));
      for (int i : order) {
        NewVolume volume = TestVolume("pvc-" + std::to_string(i));
        volume.wrapped_dek = TestWrapped("caller-" + std::to_string(t));
        Outcome& outcome = outcomes[t][i];
        outcome.status = replica.CreateVolume(volume, TestEvent("CreateVolumeKey"), &outcome.row);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::Duration elapsed = absl::Now() - start;
  int calls = 2 * kThreadsPerReplica * kIds;
  std::printf(
      "[ metric ] %d racing CreateVolume calls from 2 replicas x %d threads: %.0f calls/s\n", calls,
      kThreadsPerReplica, calls / absl::ToDoubleSeconds(elapsed));

  for (int i = 0; i < kIds; ++i) {
    int created = 0;
    for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
      const Outcome& outcome = outcomes[t][i];
      if (outcome.status.ok()) {
        ++created;
      } else {
        EXPECT_EQ(outcome.status.code(), absl::StatusCode::kAlreadyExists) << outcome.status;
      }
      EXPECT_EQ(outcome.row, outcomes[0][i].row) << "pvc-" << i << " caller " << t;
    }
    EXPECT_EQ(created, 1) << "pvc-" << i;
    absl::StatusOr<Volume> stored = b_->GetVolume("pvc-" + std::to_string(i));
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, outcomes[0][i].row);
  }
  std::vector<AuditEntry> audit = WholeAudit(*a_);
  EXPECT_EQ(audit.size(), static_cast<std::size_t>(kIds));
  ExpectLinearChain(audit);
  absl::StatusOr<AuditHead> head = b_->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, static_cast<std::uint64_t>(kIds));
}

TEST_F(EtcdReplicasTest, MixedMutationsOnTwoReplicasKeepOneLinearChain) {
  constexpr int kThreadsPerReplica = 4;
  constexpr int kPerThread = 15;
  std::atomic<int> mutations{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
    threads.emplace_back([&, t] {
      KeyStore& replica = t % 2 == 0 ? *a_ : *b_;
      KeyStore& other = t % 2 == 0 ? *b_ : *a_;
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "pvc-" + std::to_string(t) + "-" + std::to_string(i);
        Volume stored;
        bool ok = replica.CreateVolume(TestVolume(id), TestEvent("CreateVolumeKey"), &stored).ok();
        ok = ok && other.AppendAudit(TestEvent("GetVolumeKey")).ok();
        ok = ok && other
                       .CompareAndSetState(id, VolumeState::kCreated, VolumeState::kFormatted,
                                           TestEvent("ReportVolumeState"))
                       .ok();
        if (i % 3 == 0) ok = ok && replica.DestroyVolume(id, TestEvent("DestroyVolumeKey")).ok();
        if (!ok) ++failures;
        mutations += i % 3 == 0 ? 4 : 3;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::Duration elapsed = absl::Now() - start;
  std::printf("[ metric ] %d mixed mutations from 2 replicas x %d threads: %.0f mutations/s\n",
              mutations.load(), kThreadsPerReplica,
              mutations.load() / absl::ToDoubleSeconds(elapsed));
  EXPECT_EQ(failures.load(), 0);
  std::vector<AuditEntry> audit = WholeAudit(*b_);
  EXPECT_EQ(audit.size(), static_cast<std::size_t>(mutations.load()));
  ExpectLinearChain(audit);
  absl::StatusOr<AuditHead> head = a_->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, static_cast<std::uint64_t>(mutations.load()));
  absl::StatusOr<std::map<std::uint32_t, std::int64_t>> counts = a_->CountByKekVersion();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ((*counts)[1], 2 * kThreadsPerReplica * (kPerThread - (kPerThread + 2) / 3));
}

TEST_F(EtcdReplicasTest, RotationStartedOnOneReplicaIsSeenAndProgressedOnTheOther) {
  Volume v1 = MustCreate(*a_, TestVolume("pvc-1", 1));
  Volume v2 = MustCreate(*b_, TestVolume("pvc-2", 1));
  absl::StatusOr<RotationProgress> started =
      a_->PutRotationProgress(TestRotation(2, 2), 0, TestEvent("RotateKek"));
  ASSERT_TRUE(started.ok()) << started.status();

  absl::StatusOr<RotationProgress> seen = b_->GetRotationProgress();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, *started);
  absl::StatusOr<std::vector<Volume>> todo = b_->ListByKekVersion(1, "", 10);
  ASSERT_TRUE(todo.ok()) << todo.status();
  ASSERT_EQ(todo->size(), 2u);

  // Each replica rewraps one volume; both count in the one record.
  ASSERT_TRUE(
      b_->RewrapVolume("pvc-1", v1.revision, TestWrapped("k2-1"), 2, TestEvent("Rewrap")).ok());
  ASSERT_TRUE(
      a_->RewrapVolume("pvc-2", v2.revision, TestWrapped("k2-2"), 2, TestEvent("Rewrap")).ok());
  absl::StatusOr<RotationProgress> progressed = a_->GetRotationProgress();
  ASSERT_TRUE(progressed.ok());
  EXPECT_EQ(progressed->done, 2);
  EXPECT_EQ(progressed->revision, started->revision + 2);

  // A replica writing from a stale read loses; the fresh one wins.
  RotationProgress completed = *progressed;
  completed.state = RotationState::kCompleted;
  EXPECT_EQ(
      b_->PutRotationProgress(completed, started->revision, TestEvent("RotateKek")).status().code(),
      absl::StatusCode::kAborted);
  ASSERT_TRUE(
      b_->PutRotationProgress(completed, progressed->revision, TestEvent("RotateKek")).ok());
  EXPECT_EQ(a_->GetRotationProgress()->state, RotationState::kCompleted);
  EXPECT_EQ((*a_->CountByKekVersion()), (std::map<std::uint32_t, std::int64_t>{{2, 2}}));
  ASSERT_TRUE(a_->VerifyAuditChain().ok());
}

TEST_F(EtcdReplicasTest, PolicyVersionsAreSharedBetweenReplicas) {
  ASSERT_TRUE(a_->PutPolicy("attestation", "v1", 0, TestEvent("PutPolicy")).ok());
  EXPECT_EQ(b_->PutPolicy("attestation", "v2-stale", 0, TestEvent("PutPolicy")).status().code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(b_->PutPolicy("attestation", "v2", 1, TestEvent("PutPolicy")).ok());
  absl::StatusOr<PolicyRecord> latest = a_->GetPolicy("attestation", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->document, "v2");
}

TEST(EtcdOutage, StoppedEtcdIsUnavailableWithinTheDeadlineAndARestartRecovers) {
  absl::StatusOr<std::unique_ptr<EtcdTestServer>> server = EtcdTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  FakeClock clock;
  constexpr absl::Duration kTimeout = absl::Seconds(1);
  std::unique_ptr<KeyStore> store = MustOpen((*server)->endpoint(), "/cloak/v1/", clock, kTimeout);
  ASSERT_TRUE(store);
  MustCreate(*store, TestVolume("pvc-1"));

  (*server)->Stop();
  for (int i = 0; i < 2; ++i) {
    absl::Time start = absl::Now();
    absl::Status read = store->GetVolume("pvc-1").status();
    EXPECT_EQ(read.code(), absl::StatusCode::kUnavailable) << read;
    Volume stored;
    absl::Status write =
        store->CreateVolume(TestVolume("pvc-2"), TestEvent("CreateVolumeKey"), &stored);
    EXPECT_EQ(write.code(), absl::StatusCode::kUnavailable) << write;
    absl::Duration elapsed = absl::Now() - start;
    // Two calls, each bounded by the deadline: they must not hang (generous slack for a
    // loaded machine; the measured time is printed, not asserted).
    EXPECT_LT(elapsed, 10 * kTimeout) << elapsed;
    std::printf("[ metric ] two calls with etcd down answered UNAVAILABLE in %s\n",
                absl::FormatDuration(elapsed).c_str());
  }

  ASSERT_TRUE((*server)->Restart().ok());
  absl::Time restarted = absl::Now();
  absl::StatusOr<Volume> read = store->GetVolume("pvc-1");
  for (int i = 0; i < 20 && !read.ok(); ++i) read = store->GetVolume("pvc-1");
  ASSERT_TRUE(read.ok()) << read.status();
  std::printf("[ metric ] first successful read %s after etcd answered again\n",
              absl::FormatDuration(absl::Now() - restarted).c_str());
  // The creates refused during the outage left nothing behind.
  EXPECT_EQ(store->GetVolume("pvc-2").status().code(), absl::StatusCode::kNotFound);
  MustCreate(*store, TestVolume("pvc-2"));
  absl::StatusOr<AuditHead> head = store->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 2u);
}

}  // namespace
}  // namespace cloak::kms
