// GrpcKeyServiceClient against the real cloak-kms binary over TLS (NONE evidence, so the
// service runs with --insecure-allow-unattested): controller and node roles, the DEK a
// node opens equals the one wrapped in the store, one session for many calls and
// threads, re-attestation when the session expires or the service refuses its token, and
// the errors a caller sees when the service is down or the CA is wrong.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/client/grpc_key_service_client.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/key_binding.h"
#include "kms/store/sqlite_key_store.h"
#include "tests/kms/server/kms_process.h"

namespace cloak::kms::client {
namespace {

using server_test::KmsInstance;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Hex(std::span<const std::uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void Stop(KmsInstance*& kms) {
  if (kms == nullptr) return;
  kms->process->Signal(SIGTERM);
  EXPECT_EQ(kms->process->WaitExit(std::chrono::seconds(15)), 0);
  delete kms;
  kms = nullptr;
}

absl::StatusOr<std::unique_ptr<GrpcKeyServiceClient>> MakeClient(
    const KmsInstance& kms, const std::string& identity, GrpcKeyServiceClientOptions options = {}) {
  options.address = kms.address;
  options.ca_pem = server_test::ReadFile(kms.dir + "/ca.pem");
  options.target_name_override = "localhost";
  return GrpcKeyServiceClient::Create(std::move(options), std::make_unique<NoneAttester>(identity));
}

// The DEK as the key service stores it, unwrapped with the file KEK.
absl::StatusOr<SecretBytes> StoredDek(const KmsInstance& kms, const std::string& volume_id) {
  SystemClock clock;
  auto store = SqliteKeyStore::Open(kms.dir + "/store.db", clock);
  if (!store.ok()) return store.status();
  auto volume = (*store)->GetVolumeKey(volume_id);
  if (!volume.ok()) return volume.status();
  auto kek = FileKekProvider::Open(kms.dir + "/kek.bin");
  if (!kek.ok()) return kek.status();
  return (*kek)->Unwrap(volume->kek_version, volume->wrapped_dek.ciphertext(),
                        WrapAad(volume->key_id, volume->key_version));
}

class KeyServiceClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto instance = server_test::InitAndServe({"--insecure-allow-unattested"});
    ASSERT_TRUE(instance.ok()) << instance.status();
    kms_ = instance->release();
  }
  static void TearDownTestSuite() { Stop(kms_); }
  void SetUp() override { ASSERT_NE(kms_, nullptr); }

  std::unique_ptr<GrpcKeyServiceClient> Client(const std::string& identity) {
    auto client = MakeClient(*kms_, identity);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  static KmsInstance* kms_;
};

KmsInstance* KeyServiceClientTest::kms_ = nullptr;

TEST_F(KeyServiceClientTest, ControllerCreatesAndNodesReceiveTheStoredKey) {
  auto controller = Client("controller/cloak");
  auto node_a = Client("node/worker-a");
  auto node_b = Client("node/worker-b");
  ASSERT_TRUE(controller && node_a && node_b);

  absl::StatusOr<VolumeKeyInfo> created =
      controller->CreateVolumeKey("pvc-client-1", v1::INTEGRITY_MODE_NONE, {{"tier", "gold"}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->volume_id, "pvc-client-1");
  EXPECT_EQ(created->key_version, 1u);
  EXPECT_EQ(created->state, v1::VOLUME_STATE_CREATED);
  EXPECT_THAT(created->record_json, HasSubstr("pvc-client-1"));
  EXPECT_EQ(controller->attestations(), 1);

  absl::StatusOr<VolumeKey> a = node_a->GetVolumeKey("pvc-client-1");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<VolumeKey> b = node_b->GetVolumeKey("pvc-client-1");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->dek.size(), 64u);
  EXPECT_TRUE(a->dek == b->dek);
  EXPECT_EQ(a->key_version, 1u);
  EXPECT_THAT(a->record_json, HasSubstr("pvc-client-1"));
  absl::StatusOr<SecretBytes> stored = StoredDek(*kms_, "pvc-client-1");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(a->dek == *stored);

  // Invariant 1: the DEK is in no log line of the service.
  const std::string log = server_test::ReadFile(kms_->log);
  const std::string dek(reinterpret_cast<const char*>(a->dek.SecretData()), a->dek.size());
  for (const std::string& encoding :
       {dek, Hex(a->dek.SecretSpan()), absl::Base64Escape(dek), absl::WebSafeBase64Escape(dek)}) {
    EXPECT_EQ(log.find(encoding), std::string::npos);
  }

  // The first fetch attested and says how long that took; fetching again reuses the
  // session and spends no time attesting.
  EXPECT_GT(a->attestation, absl::ZeroDuration());
  absl::StatusOr<VolumeKey> again_a = node_a->GetVolumeKey("pvc-client-1");
  ASSERT_TRUE(again_a.ok()) << again_a.status();
  EXPECT_EQ(again_a->attestation, absl::ZeroDuration());
  EXPECT_EQ(node_a->attestations(), 1);
  // Idempotent create: same answer, no new key.
  absl::StatusOr<VolumeKeyInfo> again =
      controller->CreateVolumeKey("pvc-client-1", v1::INTEGRITY_MODE_NONE, {{"tier", "gold"}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->key_version, 1u);
}

TEST_F(KeyServiceClientTest, RolesAreEnforcedAndCodesPassThrough) {
  auto controller = Client("controller/cloak");
  auto node = Client("node/worker-c");
  ASSERT_TRUE(controller && node);
  ASSERT_TRUE(controller->CreateVolumeKey("pvc-client-2", v1::INTEGRITY_MODE_HMAC_SHA256, {}).ok());

  absl::StatusOr<VolumeKey> denied = controller->GetVolumeKey("pvc-client-2");
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  EXPECT_THAT(denied.status().message(), HasSubstr(kms_->address));
  EXPECT_EQ(node->CreateVolumeKey("pvc-client-x", v1::INTEGRITY_MODE_NONE, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(node->DestroyVolumeKey("pvc-client-2").code(), absl::StatusCode::kPermissionDenied);

  absl::StatusOr<VolumeKey> key = node->GetVolumeKey("pvc-client-2");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->dek.size(), 96u);

  EXPECT_EQ(
      node->ReportVolumeState("pvc-client-2", v1::VOLUME_STATE_CREATED, v1::VOLUME_STATE_FORMATTED)
          .value_or(v1::VOLUME_STATE_UNSPECIFIED),
      v1::VOLUME_STATE_FORMATTED);
  EXPECT_EQ(
      node->ReportVolumeState("pvc-client-2", v1::VOLUME_STATE_CREATED, v1::VOLUME_STATE_FORMATTED)
          .value_or(v1::VOLUME_STATE_UNSPECIFIED),
      v1::VOLUME_STATE_FORMATTED);

  absl::StatusOr<VolumeKeyInfo> clone =
      controller->CloneVolumeKey("pvc-client-2", "pvc-client-2c", {});
  ASSERT_TRUE(clone.ok()) << clone.status();
  EXPECT_EQ(clone->volume_id, "pvc-client-2c");
  absl::StatusOr<VolumeKey> cloned = node->GetVolumeKey("pvc-client-2c");
  ASSERT_TRUE(cloned.ok()) << cloned.status();
  EXPECT_TRUE(cloned->dek == key->dek);

  EXPECT_TRUE(controller->DestroyVolumeKey("pvc-client-2c").ok());
  EXPECT_TRUE(controller->DestroyVolumeKey("pvc-client-2c").ok());
  EXPECT_EQ(node->GetVolumeKey("pvc-client-2c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(node->GetVolumeKey("no-such-volume").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<VolumeKey> bad = node->GetVolumeKey("bad/id");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("volume_id"));
  EXPECT_EQ(node->attestations(), 1);

  auto stranger = Client("someone/else");
  ASSERT_TRUE(stranger);
  absl::StatusOr<SessionInfo> refused = stranger->Attest();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
}

TEST_F(KeyServiceClientTest, AttestReportsTheSessionWithoutItsToken) {
  auto node = Client("node/worker-d");
  ASSERT_TRUE(node);
  absl::StatusOr<SessionInfo> session = node->Attest();
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->identity, "node/worker-d");
  EXPECT_EQ(session->role, v1::ROLE_NODE);
  EXPECT_GT(session->expires_at, absl::Now() + absl::Minutes(4));
  EXPECT_EQ(session->token_sha256.size(), 64u);
  EXPECT_GT(session->token_size, 200u);
  // An explicit Attest always starts a new session.
  absl::StatusOr<SessionInfo> second = node->Attest();
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->token_sha256, session->token_sha256);
  EXPECT_EQ(node->attestations(), 2);
}

TEST_F(KeyServiceClientTest, ThreadsShareOneSession) {
  auto controller = Client("controller/cloak");
  auto node = Client("node/worker-e");
  ASSERT_TRUE(controller && node);
  ASSERT_TRUE(controller->CreateVolumeKey("pvc-client-3", v1::INTEGRITY_MODE_NONE, {}).ok());
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (!node->GetVolumeKey("pvc-client-3").ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(node->attestations(), 1);
}

TEST_F(KeyServiceClientTest, AWrongCaIsATlsFailureNamingTheAddress) {
  GrpcKeyServiceClientOptions options;
  options.address = kms_->address;
  options.ca_pem = server_test::ReadFile(kms_->dir + "/admin-ca.pem");  // signs no server
  options.target_name_override = "localhost";
  auto client = GrpcKeyServiceClient::Create(std::move(options),
                                             std::make_unique<NoneAttester>("node/worker-f"));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<SessionInfo> session = (*client)->Attest();
  EXPECT_EQ(session.status().code(), absl::StatusCode::kUnavailable) << session.status();
  EXPECT_THAT(session.status().message(), HasSubstr(kms_->address));
  EXPECT_THAT(session.status().message(), HasSubstr("TLS handshake failed"));
}

TEST(KeyServiceClientOfflineTest, ServiceDownIsUnavailableNamingTheAddress) {
  // A loopback port that nothing listens on.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  const std::string address = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  close(fd);

  server_test::ScratchDir scratch;
  ASSERT_EQ(server_test::RunInit(scratch.File("kms"), scratch.File("cloakctl.yaml")), 0);
  GrpcKeyServiceClientOptions options;
  options.address = address;
  options.ca_pem = server_test::ReadFile(scratch.File("kms") + "/ca.pem");
  options.target_name_override = "localhost";
  options.rpc_timeout = absl::Seconds(5);
  auto client = GrpcKeyServiceClient::Create(std::move(options),
                                             std::make_unique<NoneAttester>("node/worker-g"));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<VolumeKey> key = (*client)->GetVolumeKey("pvc-1");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kUnavailable) << key.status();
  EXPECT_THAT(key.status().message(),
              HasSubstr("cannot reach the key service at " + address + " (Challenge)"));
  EXPECT_THAT(key.status().message(), HasSubstr("cloak-kms runs"));
}

TEST(KeyServiceClientOfflineTest, CreateRefusesBadOptions) {
  GrpcKeyServiceClientOptions options;
  options.address = "no-port";
  options.ca_pem = "-----BEGIN CERTIFICATE-----\n";
  EXPECT_EQ(GrpcKeyServiceClient::Create(options, std::make_unique<NoneAttester>("node/n"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  options.address = "127.0.0.1:7443";
  options.ca_pem = "not a certificate";
  EXPECT_EQ(GrpcKeyServiceClient::Create(options, std::make_unique<NoneAttester>("node/n"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  options.ca_pem = "-----BEGIN CERTIFICATE-----\n";
  EXPECT_EQ(GrpcKeyServiceClient::Create(options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Sessions of two seconds.
std::string ShortSessions(std::string yaml) {
  const std::string from = "token_ttl_s: 300";
  yaml.replace(yaml.find(from), from.size(), "token_ttl_s: 2");
  return yaml;
}

// A clock ten seconds behind: the client believes an expired token is still good.
class LaggingClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now() - absl::Seconds(10); }
};

class SessionRenewalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto instance =
        server_test::InitAndServe({"--insecure-allow-unattested"}, {}, "", &ShortSessions);
    ASSERT_TRUE(instance.ok()) << instance.status();
    kms_ = instance->release();
    auto controller = MakeClient(*kms_, "controller/cloak");
    ASSERT_TRUE(controller.ok());
    ASSERT_TRUE((*controller)->CreateVolumeKey("pvc-renew", v1::INTEGRITY_MODE_NONE, {}).ok());
  }
  static void TearDownTestSuite() { Stop(kms_); }
  void SetUp() override { ASSERT_NE(kms_, nullptr); }
  static KmsInstance* kms_;
};

KmsInstance* SessionRenewalTest::kms_ = nullptr;

TEST_F(SessionRenewalTest, ReattestsBeforeTheSessionExpires) {
  auto node = MakeClient(*kms_, "node/worker-r");
  ASSERT_TRUE(node.ok());
  absl::StatusOr<VolumeKey> first = (*node)->GetVolumeKey("pvc-renew");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*node)->GetVolumeKey("pvc-renew").ok());
  EXPECT_EQ((*node)->attestations(), 1);
  // Past the margin (a quarter of the 2 s lifetime) and past the expiry itself.
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  absl::StatusOr<VolumeKey> second = (*node)->GetVolumeKey("pvc-renew");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*node)->attestations(), 2);
  EXPECT_TRUE(first->dek == second->dek);
}

TEST_F(SessionRenewalTest, ReattestsOnceWhenTheServiceRefusesTheToken) {
  LaggingClock clock;
  GrpcKeyServiceClientOptions options;
  options.clock = &clock;
  auto node = MakeClient(*kms_, "node/worker-s", std::move(options));
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE((*node)->GetVolumeKey("pvc-renew").ok());
  EXPECT_EQ((*node)->attestations(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  // The client still trusts its token; the service answers UNAUTHENTICATED, the client
  // attests again and the call succeeds.
  absl::StatusOr<VolumeKey> key = (*node)->GetVolumeKey("pvc-renew");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*node)->attestations(), 2);
  ASSERT_TRUE((*node)->GetVolumeKey("pvc-renew").ok());
  EXPECT_EQ((*node)->attestations(), 2);
}

}  // namespace
}  // namespace cloak::kms::client
