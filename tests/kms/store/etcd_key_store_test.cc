// EtcdKeyStore against a real etcd: the conformance suite, the documented key layout,
// the audit head, and option checks. Replicas and outages: etcd_replicas_test.cc.

#include "kms/store/etcd_key_store.h"

#include "gmock/gmock.h"
#include "kms/store/etcd/client.h"
#include "tests/kms/store/etcd_test_server.h"
#include "tests/kms/store/key_store_conformance.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

EtcdOptions OptionsFor(const std::string& prefix, const Clock& clock) {
  EtcdOptions options;
  options.endpoints = {SharedEtcd().endpoint()};
  options.key_prefix = prefix;
  options.clock = &clock;
  return options;
}

class EtcdHarness : public StoreHarness {
 public:
  EtcdHarness() {
    absl::StatusOr<std::unique_ptr<KeyStore>> store =
        OpenEtcdKeyStore(OptionsFor(UniqueEtcdPrefix(), clock()));
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      std::abort();
    }
    store_ = *std::move(store);
  }
  KeyStore& store() override { return *store_; }

 private:
  std::unique_ptr<KeyStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Etcd, KeyStoreConformance,
                         ::testing::Values(ConformanceParam{
                             "Etcd", [] { return std::make_unique<EtcdHarness>(); }}),
                         ConformanceName);

// Reads etcd directly, bypassing the store.
class RawEtcd {
 public:
  RawEtcd() {
    client_ = *etcd::Client::Create(etcd::ConnectionOptions{{SharedEtcd().endpoint()}, "", "", ""});
  }
  // Every key under `prefix`, in order.
  std::vector<std::string> Keys(const std::string& prefix) {
    etcdserverpb::RangeRequest request;
    request.set_key(prefix);
    request.set_range_end(prefix.substr(0, prefix.size() - 1) + static_cast<char>('/' + 1));
    request.set_keys_only(true);
    absl::StatusOr<etcdserverpb::RangeResponse> read = client_->Range(request, Deadline(), "test");
    EXPECT_TRUE(read.ok()) << read.status();
    std::vector<std::string> keys;
    if (read.ok()) {
      for (const auto& kv : read->kvs()) keys.push_back(kv.key().substr(prefix.size()));
    }
    return keys;
  }
  // The volume key's value as of etcd revision `revision` (0: the newest).
  absl::StatusOr<etcdserverpb::RangeResponse> ReadAt(const std::string& key,
                                                     std::int64_t revision) {
    etcdserverpb::RangeRequest request;
    request.set_key(key);
    request.set_revision(revision);
    return client_->Range(request, Deadline(), "test");
  }
  void Delete(const std::string& key) {
    etcdserverpb::TxnRequest request;
    request.add_success()->mutable_request_delete_range()->set_key(key);
    ASSERT_TRUE(client_->Txn(request, Deadline(), "test", etcd::Retry::kNever).ok());
  }
  void Put(const std::string& key, const std::string& value) {
    etcdserverpb::TxnRequest request;
    request.add_success()->mutable_request_put()->set_key(key);
    request.mutable_success(0)->mutable_request_put()->set_value(value);
    ASSERT_TRUE(client_->Txn(request, Deadline(), "test", etcd::Retry::kNever).ok());
  }

 private:
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(5); }
  std::unique_ptr<etcd::Client> client_;
};

class EtcdKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<KeyStore>> store = OpenEtcdKeyStore(OptionsFor(prefix_, clock_));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  FakeClock clock_;
  std::string prefix_ = UniqueEtcdPrefix();
  std::unique_ptr<KeyStore> store_;
  RawEtcd raw_;
};

TEST_F(EtcdKeyStoreTest, KeysFollowTheDocumentedLayout) {
  MustCreate(*store_, TestVolume("pvc-1", 2));
  ASSERT_TRUE(store_->PutPolicy("attestation", "{}", 0, TestEvent("PutPolicy")).ok());
  ASSERT_TRUE(store_->PutRotationProgress(TestRotation(3, 1), 0, TestEvent("RotateKek")).ok());
  EXPECT_THAT(
      raw_.Keys(prefix_),
      ElementsAre("audit-head", "audit/00000000000000000001", "audit/00000000000000000002",
                  "audit/00000000000000000003", "kek/0000000002/pvc-1",
                  "policies/attestation/00000000000000000001", "rotation", "volumes/pvc-1"));

  // A destroy drops the KEK index entry and keeps the tombstone.
  ASSERT_TRUE(store_->DestroyVolume("pvc-1", TestEvent("DestroyVolumeKey")).ok());
  std::vector<std::string> keys = raw_.Keys(prefix_);
  EXPECT_THAT(keys, ::testing::Contains("volumes/pvc-1"));
  EXPECT_THAT(keys, ::testing::Not(::testing::Contains("kek/0000000002/pvc-1")));
}

TEST_F(EtcdKeyStoreTest, DestroyCompactsAwayTheRevisionsHoldingTheWrappedKey) {
  MustCreate(*store_, TestVolume("pvc-1"));
  std::string key = prefix_ + "volumes/pvc-1";
  absl::StatusOr<etcdserverpb::RangeResponse> live = raw_.ReadAt(key, 0);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->kvs_size(), 1);
  std::int64_t created = live->kvs(0).mod_revision();
  ASSERT_TRUE(raw_.ReadAt(key, created).ok());  // the old revision is still readable

  ASSERT_TRUE(store_->DestroyVolume("pvc-1", TestEvent("DestroyVolumeKey")).ok());
  absl::StatusOr<etcdserverpb::RangeResponse> old = raw_.ReadAt(key, created);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition) << old.status();
  EXPECT_THAT(old.status().message(), HasSubstr("compacted"));
}

TEST_F(EtcdKeyStoreTest, RemovedNewestEntryIsDataLossThanksToTheHead) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->AppendAudit(TestEvent("GetVolumeKey")).ok());
  ASSERT_TRUE(store_->VerifyAuditChain().ok());
  raw_.Delete(prefix_ + "audit/00000000000000000003");
  absl::StatusOr<AuditHead> head = store_->VerifyAuditChain();
  EXPECT_EQ(head.status().code(), absl::StatusCode::kDataLoss) << head.status();
  EXPECT_THAT(head.status().message(), HasSubstr("sequence 3"));
}

TEST_F(EtcdKeyStoreTest, RewrittenEntryIsDataLossAtItsSequence) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->AppendAudit(TestEvent("GetVolumeKey")).ok());
  std::vector<AuditEntry> audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), 3u);
  std::string key = prefix_ + "audit/00000000000000000002";
  raw_.Put(key, "{\"format\":1}");
  absl::StatusOr<AuditHead> head = store_->VerifyAuditChain();
  EXPECT_EQ(head.status().code(), absl::StatusCode::kDataLoss) << head.status();
  EXPECT_THAT(head.status().message(), HasSubstr("sequence 2"));
}

TEST_F(EtcdKeyStoreTest, UnreadableRowIsInternal) {
  raw_.Put(prefix_ + "volumes/pvc-x", "not json");
  EXPECT_EQ(store_->GetVolume("pvc-x").status().code(), absl::StatusCode::kInternal);
}

TEST_F(EtcdKeyStoreTest, SerialCallsReportThroughput) {
  constexpr int kCalls = 200;
  absl::Time start = absl::Now();
  for (int i = 0; i < kCalls; ++i) MustCreate(*store_, TestVolume("pvc-" + std::to_string(i)));
  absl::Duration creates = absl::Now() - start;
  start = absl::Now();
  for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(store_->GetVolume("pvc-" + std::to_string(i)).ok());
  absl::Duration reads = absl::Now() - start;
  std::printf("[ metric ] one replica, one thread: %.0f CreateVolume/s, %.0f GetVolume/s\n",
              kCalls / absl::ToDoubleSeconds(creates), kCalls / absl::ToDoubleSeconds(reads));
  absl::StatusOr<AuditHead> head = store_->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, static_cast<std::uint64_t>(kCalls));
}

TEST(EtcdKeyStoreOptions, BadOptionsAreInvalidArgument) {
  FakeClock clock;
  EtcdOptions no_endpoints = OptionsFor("/x/", clock);
  no_endpoints.endpoints.clear();
  EtcdOptions bad_endpoint = OptionsFor("/x/", clock);
  bad_endpoint.endpoints = {"no-port"};
  EtcdOptions relative_prefix = OptionsFor("x/", clock);
  EtcdOptions half_tls = OptionsFor("/x/", clock);
  half_tls.cert_file = "/nonexistent/cert.pem";
  for (const EtcdOptions& options : {no_endpoints, bad_endpoint, relative_prefix, half_tls}) {
    EXPECT_EQ(OpenEtcdKeyStore(options).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EtcdOptions missing_ca = OptionsFor("/x/", clock);
  missing_ca.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(OpenEtcdKeyStore(missing_ca).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cloak::kms
