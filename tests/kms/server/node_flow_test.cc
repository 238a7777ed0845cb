// The node and controller flow against the real cloak-kms binary over TLS with SQLite:
// attested key release, session and nonce rules, admin mutual TLS, TLS 1.3 only, and
// invariant 1 (no DEK or token in the store files, the log or the audit).

#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kms/server/kms_process.h"

namespace cloak::kms::server_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

// Every encoding of `secret` a careless log line or column might use.
std::vector<std::string> Encodings(const std::string& secret) {
  std::string upper = Hex(secret);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return {secret, Hex(secret), upper, absl::Base64Escape(secret),
          absl::WebSafeBase64Escape(secret)};
}

bool Contains(const std::string& haystack, const std::string& secret) {
  for (const std::string& needle : Encodings(secret)) {
    if (haystack.find(needle) != std::string::npos) return true;
  }
  return false;
}

class NodeFlowTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto instance = InitAndServe({"--insecure-allow-unattested", "--log-level", "debug"});
    ASSERT_TRUE(instance.ok()) << instance.status();
    kms_ = instance->release();
  }
  static void TearDownTestSuite() {
    if (kms_ == nullptr) return;
    kms_->process->Signal(SIGTERM);
    EXPECT_EQ(kms_->process->WaitExit(std::chrono::seconds(15)), 0);
    delete kms_;
    kms_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(kms_, nullptr);
    tls_ = AdminTlsFiles(kms_->dir);
    TlsFiles anonymous = tls_;
    anonymous.cert_pem.clear();
    anonymous.key_pem.clear();
    keys_ = v1::KeyService::NewStub(MakeChannel(kms_->address, anonymous));
    admin_ = v1::AdminService::NewStub(MakeChannel(kms_->address, tls_));
    anonymous_admin_ = v1::AdminService::NewStub(MakeChannel(kms_->address, anonymous));
  }

  absl::Status Create(const Session& controller, const std::string& volume_id,
                      v1::IntegrityMode mode = v1::INTEGRITY_MODE_NONE) {
    v1::CreateVolumeKeyRequest request;
    request.set_session_token(controller.token);
    request.set_volume_id(volume_id);
    request.set_integrity_mode(mode);
    v1::CreateVolumeKeyResponse response;
    grpc::ClientContext context;
    return ToAbsl(keys_->CreateVolumeKey(&context, request, &response));
  }

  static KmsInstance* kms_;
  TlsFiles tls_;
  std::unique_ptr<v1::KeyService::Stub> keys_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::AdminService::Stub> anonymous_admin_;
};

KmsInstance* NodeFlowTest::kms_ = nullptr;

TEST_F(NodeFlowTest, KeyReleaseThroughTwoSessionsAndInvariantOne) {
  auto controller = Attest(*keys_, "controller/cloak");
  ASSERT_TRUE(controller.ok()) << controller.status();
  ASSERT_TRUE(Create(*controller, "pvc-flow-1").ok());
  ASSERT_TRUE(Create(*controller, "pvc-flow-2", v1::INTEGRITY_MODE_HMAC_SHA256).ok());

  // Two node sessions (two attestations, two ephemeral keys) receive the same DEK.
  auto node_a = Attest(*keys_, "node/worker-a");
  auto node_b = Attest(*keys_, "node/worker-b");
  ASSERT_TRUE(node_a.ok() && node_b.ok());
  v1::GetVolumeKeyResponse response_a;
  auto dek_a = FetchDek(*keys_, *node_a, "pvc-flow-1", &response_a);
  auto dek_b = FetchDek(*keys_, *node_b, "pvc-flow-1");
  ASSERT_TRUE(dek_a.ok()) << dek_a.status();
  ASSERT_TRUE(dek_b.ok()) << dek_b.status();
  EXPECT_EQ(dek_a->size(), 64u);
  EXPECT_TRUE(*dek_a == *dek_b);
  EXPECT_EQ(response_a.key_version(), 1u);
  EXPECT_THAT(response_a.record_json(), HasSubstr("pvc-flow-1"));
  auto dek_hmac = FetchDek(*keys_, *node_a, "pvc-flow-2");
  ASSERT_TRUE(dek_hmac.ok());
  EXPECT_EQ(dek_hmac->size(), 96u);

  // A controller never receives a key.
  EXPECT_EQ(FetchDek(*keys_, *controller, "pvc-flow-1").status().code(),
            absl::StatusCode::kPermissionDenied);

  // The admin view of the record, without key bytes.
  v1::GetVolumeRequest get;
  get.set_volume_id("pvc-flow-1");
  v1::VolumeInfo info;
  grpc::ClientContext get_context;
  ASSERT_TRUE(admin_->GetVolume(&get_context, get, &info).ok());
  EXPECT_EQ(info.volume_id(), "pvc-flow-1");
  EXPECT_EQ(info.state(), v1::VOLUME_STATE_CREATED);
  EXPECT_EQ(info.kek_version(), 1u);
  EXPECT_THAT(info.record_json(), HasSubstr("pvc-flow-1"));

  // Invariant 1: the DEKs appear nowhere — not in the SQLite files, the log, the audit;
  // and the session tokens are not in the log.
  std::string audit_text;
  for (std::uint64_t from = 1;;) {
    v1::ListAuditRequest request;
    request.set_from_sequence(from);
    request.set_limit(1000);
    v1::ListAuditResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(admin_->ListAudit(&context, request, &response).ok());
    if (response.entries().empty()) break;
    for (const auto& entry : response.entries()) {
      audit_text += entry.SerializeAsString();
      from = entry.sequence() + 1;
    }
  }
  EXPECT_THAT(audit_text, HasSubstr("GetVolumeKey"));
  const std::string db = ReadFile(kms_->dir + "/store.db") + ReadFile(kms_->dir + "/store.db-wal");
  ASSERT_FALSE(db.empty());
  const std::string log = ReadFile(kms_->log);
  ASSERT_FALSE(log.empty());
  for (const SecretBytes* dek : {&*dek_a, &*dek_hmac}) {
    const std::string bytes = AsString(dek->SecretSpan());
    EXPECT_FALSE(Contains(db, bytes)) << "a DEK is in the SQLite files";
    EXPECT_FALSE(Contains(log, bytes)) << "a DEK is in the log";
    EXPECT_FALSE(Contains(audit_text, bytes)) << "a DEK is in the audit";
  }
  for (const Session* session : {&*controller, &*node_a, &*node_b}) {
    EXPECT_FALSE(Contains(log, session->token)) << "a session token is in the log";
    EXPECT_FALSE(Contains(audit_text, session->token)) << "a session token is in the audit";
  }

  // Crypto-shredding: destroy, then the key is gone.
  v1::DestroyVolumeKeyRequest destroy;
  destroy.set_session_token(controller->token);
  destroy.set_volume_id("pvc-flow-1");
  v1::DestroyVolumeKeyResponse destroyed;
  grpc::ClientContext destroy_context;
  ASSERT_TRUE(keys_->DestroyVolumeKey(&destroy_context, destroy, &destroyed).ok());
  EXPECT_EQ(FetchDek(*keys_, *node_a, "pvc-flow-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NodeFlowTest, ReplayedNonceIsUnauthenticated) {
  grpc::ClientContext challenge_context;
  v1::ChallengeResponse challenge;
  ASSERT_TRUE(keys_->Challenge(&challenge_context, v1::ChallengeRequest(), &challenge).ok());
  auto key_pair = HpkeGenerateKeyPair();
  ASSERT_TRUE(key_pair.ok());
  const std::string public_key = AsString(key_pair->public_key);
  const AttestationBinding binding =
      ComputeBinding(std::span(reinterpret_cast<const std::uint8_t*>(challenge.nonce().data()),
                               challenge.nonce().size()),
                     key_pair->public_key);
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(public_key);
  request.set_evidence_type(v1::EVIDENCE_TYPE_NONE);
  request.set_evidence(AsString(NoneVerifier::MakeEvidence(binding, "node/replay")));
  v1::AttestResponse response;
  grpc::ClientContext first;
  ASSERT_TRUE(keys_->Attest(&first, request, &response).ok());
  grpc::ClientContext second;
  EXPECT_EQ(keys_->Attest(&second, request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(NodeFlowTest, TokenUsedWithAnotherEphemeralKeyIsRefused) {
  auto controller = Attest(*keys_, "controller/cloak");
  ASSERT_TRUE(controller.ok());
  ASSERT_TRUE(Create(*controller, "pvc-bound").ok());
  auto node = Attest(*keys_, "node/worker-a");
  auto other = HpkeGenerateKeyPair();
  ASSERT_TRUE(node.ok() && other.ok());
  Session stolen;
  stolen.token = node->token;
  stolen.binding = node->binding;
  stolen.key_pair = *std::move(other);
  EXPECT_EQ(FetchDek(*keys_, stolen, "pvc-bound").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(FetchDek(*keys_, *node, "pvc-bound").ok());
}

TEST_F(NodeFlowTest, AdminServiceNeedsTheAdminClientCertificate) {
  v1::HealthResponse health;
  grpc::ClientContext no_cert;
  const grpc::Status refused = anonymous_admin_->Health(&no_cert, v1::HealthRequest(), &health);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(refused.error_message(), HasSubstr("client certificate"));

  grpc::ClientContext with_cert;
  ASSERT_TRUE(admin_->Health(&with_cert, v1::HealthRequest(), &health).ok());
  EXPECT_TRUE(health.serving());
  EXPECT_THAT(health.message(), HasSubstr("insecure_allow_unattested"));

  // The audit names the certificate subject as the actor.
  v1::ListVolumesResponse volumes;
  grpc::ClientContext list;
  ASSERT_TRUE(admin_->ListVolumes(&list, v1::ListVolumesRequest(), &volumes).ok());
  v1::ListAuditRequest audit_request;
  audit_request.set_from_sequence(1);
  audit_request.set_limit(1000);
  v1::ListAuditResponse audit;
  grpc::ClientContext audit_context;
  ASSERT_TRUE(admin_->ListAudit(&audit_context, audit_request, &audit).ok());
  bool found = false;
  for (const auto& entry : audit.entries()) {
    if (entry.action() == "ListVolumes") {
      EXPECT_THAT(entry.actor(), HasSubstr("CN=cloak-admin"));
      found = true;
    }
  }
  EXPECT_TRUE(found);

  // The server's own certificate (another CA, serverAuth only) is no admin credential.
  TlsFiles server_as_client = tls_;
  server_as_client.cert_pem = ReadFile(kms_->dir + "/server.pem");
  server_as_client.key_pem = ReadFile(kms_->dir + "/server-key.pem");
  auto impostor = v1::AdminService::NewStub(MakeChannel(kms_->address, server_as_client));
  grpc::ClientContext impostor_context;
  impostor_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(impostor->Health(&impostor_context, v1::HealthRequest(), &health).ok());
}

TEST_F(NodeFlowTest, OnlyTls13IsAccepted) {
  const std::string base = "openssl s_client -connect " + kms_->address + " -CAfile " + kms_->dir +
                           "/ca.pem -servername localhost </dev/null";
  // s_client prints the version it tried; "Cipher is (NONE)" means no session came up.
  const auto [code12, out12] = Shell(base + " -tls1_2");
  EXPECT_NE(code12, 0) << out12;
  EXPECT_THAT(out12, HasSubstr("Cipher is (NONE)"));
  EXPECT_THAT(out12, Not(HasSubstr("New, TLSv1.2")));
  // The exit code of a successful s_client depends on how gRPC closes the idle
  // connection, so the handshake line is what counts.
  const std::string out13 = Shell(base + " -tls1_3").second;
  EXPECT_THAT(out13, HasSubstr("New, TLSv1.3, Cipher is TLS_"));
  EXPECT_THAT(out13, HasSubstr("Verify return code: 0 (ok)"));
}

TEST(SecureModeTest, NoneEvidenceIsRefusedWithoutTheInsecureFlag) {
  auto kms = InitAndServe({});
  ASSERT_TRUE(kms.ok()) << kms.status();
  TlsFiles tls = AdminTlsFiles((*kms)->dir);
  auto admin = v1::AdminService::NewStub(MakeChannel((*kms)->address, tls));
  tls.cert_pem.clear();
  tls.key_pem.clear();
  auto keys = v1::KeyService::NewStub(MakeChannel((*kms)->address, tls));
  EXPECT_EQ(Attest(*keys, "node/worker-a").status().code(), absl::StatusCode::kPermissionDenied);
  v1::HealthResponse health;
  grpc::ClientContext context;
  ASSERT_TRUE(admin->Health(&context, v1::HealthRequest(), &health).ok());
  EXPECT_THAT(health.message(), Not(HasSubstr("insecure")));
  EXPECT_THAT(ReadFile((*kms)->log), Not(HasSubstr("INSECURE")));
}

std::string ShortTtl(std::string yaml) {
  const std::string from = "token_ttl_s: 300";
  yaml.replace(yaml.find(from), from.size(), "token_ttl_s: 1");
  return yaml;
}

TEST(ShortTtlTest, ExpiredTokenIsUnauthenticated) {
  auto kms = InitAndServe({"--insecure-allow-unattested"}, {}, "", &ShortTtl);
  ASSERT_TRUE(kms.ok()) << kms.status();
  EXPECT_THAT(ReadFile((*kms)->log), HasSubstr("INSECURE"));
  TlsFiles tls = AdminTlsFiles((*kms)->dir);
  tls.cert_pem.clear();
  tls.key_pem.clear();
  auto keys = v1::KeyService::NewStub(MakeChannel((*kms)->address, tls));
  auto controller = Attest(*keys, "controller/cloak");
  auto node = Attest(*keys, "node/worker-a");
  ASSERT_TRUE(controller.ok() && node.ok());
  v1::CreateVolumeKeyRequest create;
  create.set_session_token(controller->token);
  create.set_volume_id("pvc-ttl");
  create.set_integrity_mode(v1::INTEGRITY_MODE_NONE);
  v1::CreateVolumeKeyResponse created;
  grpc::ClientContext context;
  ASSERT_TRUE(keys->CreateVolumeKey(&context, create, &created).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(FetchDek(*keys, *node, "pvc-ttl").status().code(), absl::StatusCode::kUnauthenticated);
  auto fresh = Attest(*keys, "node/worker-a");
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(FetchDek(*keys, *fresh, "pvc-ttl").ok());
}

}  // namespace
}  // namespace cloak::kms::server_test
