// Both services over a real gRPC server and an in-process channel: codes survive the
// handler edge unchanged, and the sealed DEK opens on the client side.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "kms/crypto/key_binding.h"
#include "tests/kms/service/service_test_util.h"

namespace cloak::kms::kms_test {
namespace {

TEST(GrpcRoundTripTest, NodeFlowAndErrorCodes) {
  ServiceHarness h;
  FileKekVersionManager versions(*h.keks);
  KekRotator rotator(h.store, *h.keks, versions, {});
  AdminServiceImpl admin(AdminServiceContext{.store = &h.store,
                                             .keks = h.keks.get(),
                                             .rotator = &rotator,
                                             .run_in_background = nullptr,
                                             .actor = "admin",
                                             .description = {},
                                             .check_policy = nullptr,
                                             .policy_stored = nullptr});
  grpc::ServerBuilder builder;
  builder.RegisterService(h.service.get());
  builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel = server->InProcessChannel(grpc::ChannelArguments());
  auto keys = v1::KeyService::NewStub(channel);
  auto admin_stub = v1::AdminService::NewStub(channel);

  Session controller = h.Attest("controller/cloak").value();
  ASSERT_TRUE(h.Create(controller, "pvc-1").ok());

  // Challenge → Attest → GetVolumeKey, all over the wire.
  grpc::ClientContext c1;
  v1::ChallengeResponse challenge;
  ASSERT_TRUE(keys->Challenge(&c1, v1::ChallengeRequest(), &challenge).ok());
  HpkeKeyPair pair = HpkeGenerateKeyPair().value();
  AttestationBinding binding = ComputeBinding(AsBytes(challenge.nonce()), pair.public_key);
  v1::AttestRequest attest;
  attest.set_nonce(challenge.nonce());
  attest.set_ephemeral_public_key(AsString(pair.public_key));
  attest.set_evidence_type(v1::EVIDENCE_TYPE_TPM);
  attest.set_evidence(AsString(NoneVerifier::MakeEvidence(binding, "node/worker-1")));
  grpc::ClientContext c2;
  v1::AttestResponse session;
  ASSERT_TRUE(keys->Attest(&c2, attest, &session).ok());
  EXPECT_EQ(session.role(), v1::ROLE_NODE);
  grpc::ClientContext c3;
  v1::AttestResponse replay;
  EXPECT_EQ(keys->Attest(&c3, attest, &replay).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  v1::GetVolumeKeyRequest get;
  get.set_session_token(session.session_token());
  get.set_volume_id("pvc-1");
  get.set_ephemeral_public_key(AsString(pair.public_key));
  grpc::ClientContext c4;
  v1::GetVolumeKeyResponse key;
  ASSERT_TRUE(keys->GetVolumeKey(&c4, get, &key).ok());
  absl::StatusOr<SecretBytes> dek =
      HpkeOpen(pair.private_key, AsBytes(key.sealed_dek_enc()),
               ReleaseInfo("pvc-1", key.key_version()), binding, AsBytes(key.sealed_dek()));
  ASSERT_TRUE(dek.ok()) << dek.status();
  EXPECT_TRUE(*dek == h.StoredDek("pvc-1").value());

  get.set_volume_id("pvc-missing");
  grpc::ClientContext c5;
  EXPECT_EQ(keys->GetVolumeKey(&c5, get, &key).error_code(), grpc::StatusCode::NOT_FOUND);
  get.set_volume_id("bad/id");
  grpc::ClientContext c6;
  EXPECT_EQ(keys->GetVolumeKey(&c6, get, &key).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext c7;
  v1::HealthResponse health;
  ASSERT_TRUE(admin_stub->Health(&c7, v1::HealthRequest(), &health).ok());
  EXPECT_TRUE(health.serving());
  server->Shutdown();
}

}  // namespace
}  // namespace cloak::kms::kms_test
