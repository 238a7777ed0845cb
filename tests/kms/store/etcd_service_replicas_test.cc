// Two key-service replicas (KeyServiceImpl) over two EtcdKeyStores on one etcd: racing
// CreateVolumeKey calls for the same ids on both end with one key per id, which either
// replica releases identically, and one linear audit chain.

#include <thread>
#include <vector>

#include "common/status.h"
#include "gtest/gtest.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/hpke.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"
#include "kms/service/authorizer.h"
#include "kms/service/key_service.h"
#include "kms/service/nonce_table.h"
#include "kms/service/session_tokens.h"
#include "kms/store/etcd_key_store.h"
#include "kms/store/testing/fake_clock.h"
#include "tests/kms/service/service_test_util.h"
#include "tests/kms/store/etcd_test_server.h"
#include "tests/kms/store/temp_dir.h"

namespace cloak::kms {
namespace {

using kms_test::AsBytes;
using kms_test::AsString;
using kms_test::Session;
using kms_test::TestVerifier;

// One replica: its own store connection, nonces, verifier and service; the KEK provider,
// the token signing seed and the clock are shared, as an HSM and a Secret would be.
struct Replica {
  Replica(const std::string& prefix, const FakeClock& clock, KekProvider& keks,
          const SecretBytes& seed)
      : nonces(clock) {
    EtcdOptions options;
    options.endpoints = {SharedEtcd().endpoint()};
    options.key_prefix = prefix;
    options.clock = &clock;
    store = std::move(OpenEtcdKeyStore(options).value());
    tokens = std::move(SessionTokens::Create(seed, clock).value());
    service = std::make_unique<KeyServiceImpl>(KeyServiceContext{.store = store.get(),
                                                                 .keks = &keks,
                                                                 .verifier = &verifier,
                                                                 .authorizer = &authorizer,
                                                                 .tokens = tokens.get(),
                                                                 .nonces = &nonces,
                                                                 .clock = &clock,
                                                                 .logger = nullptr});
  }

  absl::StatusOr<Session> Attest(const std::string& identity) {
    v1::ChallengeResponse challenge;
    RETURN_IF_ERROR(service->DoChallenge(&challenge));
    Session session;
    ASSIGN_OR_RETURN(session.key_pair, HpkeGenerateKeyPair());
    session.binding = ComputeBinding(AsBytes(challenge.nonce()), session.key_pair.public_key);
    v1::AttestRequest request;
    request.set_nonce(challenge.nonce());
    request.set_ephemeral_public_key(AsString(session.key_pair.public_key));
    request.set_evidence_type(v1::EVIDENCE_TYPE_TPM);
    request.set_evidence(AsString(NoneVerifier::MakeEvidence(session.binding, identity)));
    v1::AttestResponse response;
    RETURN_IF_ERROR(service->DoAttest(request, &response));
    session.token = response.session_token();
    return session;
  }

  absl::StatusOr<SecretBytes> Fetch(const Session& node, const std::string& volume_id) {
    v1::GetVolumeKeyRequest request;
    request.set_session_token(node.token);
    request.set_volume_id(volume_id);
    request.set_ephemeral_public_key(AsString(node.key_pair.public_key));
    v1::GetVolumeKeyResponse response;
    RETURN_IF_ERROR(service->DoGetVolumeKey(request, &response));
    return HpkeOpen(node.key_pair.private_key, AsBytes(response.sealed_dek_enc()),
                    ReleaseInfo(volume_id, response.key_version()), node.binding,
                    AsBytes(response.sealed_dek()));
  }

  std::unique_ptr<KeyStore> store;
  NonceTable nonces;
  TestVerifier verifier;
  DefaultAuthorizer authorizer;
  std::unique_ptr<SessionTokens> tokens;
  std::unique_ptr<KeyServiceImpl> service;
};

TEST(EtcdServiceReplicas, RacingCreatesOnTwoKeyServicesYieldOneKeyThatBothRelease) {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<FileKekProvider> keks =
      std::move(FileKekProvider::Initialize(dir.File("kek")).value());
  SecretBytes seed = std::move(RandomSecret(kSessionSigningSeedSize).value());
  std::string prefix = UniqueEtcdPrefix();
  Replica a(prefix, clock, *keks, seed);
  Replica b(prefix, clock, *keks, seed);
  // Sessions come from one replica and are honoured by the other (shared signing seed).
  absl::StatusOr<Session> controller = a.Attest("controller/cloak");
  ASSERT_TRUE(controller.ok()) << controller.status();
  absl::StatusOr<Session> node = b.Attest("node/worker-1");
  ASSERT_TRUE(node.ok()) << node.status();

  constexpr int kThreadsPerReplica = 4;
  constexpr int kIds = 10;
  std::vector<std::vector<v1::CreateVolumeKeyResponse>> responses(
      2 * kThreadsPerReplica, std::vector<v1::CreateVolumeKeyResponse>(kIds));
  std::vector<std::vector<absl::Status>> statuses(2 * kThreadsPerReplica,
                                                  std::vector<absl::Status>(kIds));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
    threads.emplace_back([&, t] {
      Replica& replica = t % 2 == 0 ? a : b;
      for (int i = 0; i < kIds; ++i) {
        v1::CreateVolumeKeyRequest request;
        request.set_session_token(controller->token);
        request.set_volume_id("pvc-" + std::to_string(i));
        request.set_integrity_mode(v1::INTEGRITY_MODE_NONE);
        statuses[t][i] = replica.service->DoCreateVolumeKey(request, &responses[t][i]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int i = 0; i < kIds; ++i) {
    std::string id = "pvc-" + std::to_string(i);
    for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
      EXPECT_TRUE(statuses[t][i].ok()) << id << ": " << statuses[t][i];
      EXPECT_EQ(responses[t][i].SerializeAsString(), responses[0][i].SerializeAsString()) << id;
    }
    absl::StatusOr<SecretBytes> via_a = a.Fetch(*node, id);
    absl::StatusOr<SecretBytes> via_b = b.Fetch(*node, id);
    ASSERT_TRUE(via_a.ok()) << via_a.status();
    ASSERT_TRUE(via_b.ok()) << via_b.status();
    EXPECT_TRUE(*via_a == *via_b) << id << ": the replicas released different keys";
  }

  // One create event per id plus every key release, audited by either replica, all in
  // one chain without a fork.
  std::vector<AuditEntry> audit;
  while (true) {
    absl::StatusOr<std::vector<AuditEntry>> page =
        b.store->ListAudit(audit.size() + 1, kMaxPageSize);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    audit.insert(audit.end(), page->begin(), page->end());
  }
  AuditHash previous{};
  int creates = 0;
  for (std::size_t i = 0; i < audit.size(); ++i) {
    ASSERT_EQ(audit[i].sequence, i + 1);
    ASSERT_EQ(audit[i].prev_hash, previous) << "fork at sequence " << audit[i].sequence;
    previous = audit[i].hash;
    if (audit[i].event.action == "CreateVolumeKey" && audit[i].event.outcome == "ok") ++creates;
  }
  EXPECT_EQ(creates, kIds);
  absl::StatusOr<AuditHead> head = a.store->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, audit.size());
}

}  // namespace
}  // namespace cloak::kms
