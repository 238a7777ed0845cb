// Two cloak-kms processes sharing one etcd (store.type etcd) and one SoftHSM2 token
// (kek.type pkcs11), the high-availability setup of docs/kms-server.md: `cloak-kms kek
// init` puts KEK version 1 into the fresh token; a volume created through either replica
// is one record with one key; a KEK rotation started on one replica is visible and usable
// on the other.

#include <signal.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kms/crypto/pkcs11_test_token.h"
#include "tests/kms/server/kms_process.h"
#include "tests/kms/store/etcd_test_server.h"

namespace cloak::kms::server_test {
namespace {

using ::testing::HasSubstr;

struct Replica {
  std::unique_ptr<KmsProcess> process;
  std::string address;
  std::unique_ptr<v1::KeyService::Stub> keys;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

class EtcdReplicasProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(token_.Create().ok());
    ASSERT_EQ(RunInit(scratch_.File("kms"), scratch_.File("cloakctl.yaml")), 0);
    const Pkcs11Options hsm = token_.Options();
    YAML::Node config = YAML::LoadFile(scratch_.File("kms/kms.yaml"));
    YAML::Node store;
    store["type"] = "etcd";
    store["endpoints"].push_back(SharedEtcd().endpoint());
    store["prefix"] = UniqueEtcdPrefix();
    config["store"] = store;
    YAML::Node kek;
    kek["type"] = "pkcs11";
    kek["module"] = hsm.module_path;
    kek["token_label"] = hsm.token_label;
    kek["pin_file"] = hsm.pin_file;
    config["kek"] = kek;
    config_ = scratch_.File("kms/kms-ha.yaml");
    WriteFile(config_, YAML::Dump(config) + "\n");
  }

  absl::StatusOr<Replica> StartReplica(const std::string& name) {
    Replica replica;
    const std::string ready = scratch_.File(name + ".ready");
    replica.process = std::make_unique<KmsProcess>(
        KmsProcess::Options{.args = {"serve", "--config", config_, "--listen", "127.0.0.1:0",
                                     "--ready-file", ready, "--insecure-allow-unattested"},
                            .env = {},
                            .log_path = scratch_.File(name + ".log"),
                            .ready_file = ready});
    absl::StatusOr<std::string> address = replica.process->WaitReady(std::chrono::seconds(30));
    if (!address.ok()) return address.status();
    replica.address = *address;
    TlsFiles tls = AdminTlsFiles(scratch_.File("kms"));
    replica.admin = v1::AdminService::NewStub(MakeChannel(*address, tls));
    tls.cert_pem.clear();
    tls.key_pem.clear();
    replica.keys = v1::KeyService::NewStub(MakeChannel(*address, tls));
    return replica;
  }

  static absl::StatusOr<v1::CreateVolumeKeyResponse> Create(v1::KeyService::Stub& keys,
                                                            const Session& controller,
                                                            const std::string& volume_id) {
    v1::CreateVolumeKeyRequest request;
    request.set_session_token(controller.token);
    request.set_volume_id(volume_id);
    request.set_integrity_mode(v1::INTEGRITY_MODE_NONE);
    v1::CreateVolumeKeyResponse response;
    grpc::ClientContext context;
    absl::Status status = ToAbsl(keys.CreateVolumeKey(&context, request, &response));
    if (!status.ok()) return status;
    return response;
  }

  static v1::RotationStatus Rotation(v1::AdminService::Stub& admin) {
    v1::RotationStatus status;
    grpc::ClientContext context;
    EXPECT_TRUE(admin.GetRotationStatus(&context, {}, &status).ok());
    return status;
  }

  static v1::HealthResponse Health(v1::AdminService::Stub& admin) {
    v1::HealthResponse health;
    grpc::ClientContext context;
    EXPECT_TRUE(admin.Health(&context, {}, &health).ok());
    return health;
  }

  kms_test::SoftHsmToken token_;
  ScratchDir scratch_;
  std::string config_;
};

TEST_F(EtcdReplicasProcessTest, TwoReplicasShareVolumesAndRotation) {
  // A fresh token holds no KEK: serving refuses until `kek init` creates version 1, once.
  const std::string kek_init = KmsBinary() + " kek init --config " + config_;
  auto [first_code, first_out] = Shell(kek_init);
  ASSERT_EQ(first_code, 0) << first_out;
  EXPECT_THAT(first_out, HasSubstr("KEK version 1 created (kek.type pkcs11)"));
  auto [again_code, again_out] = Shell(kek_init);
  EXPECT_EQ(again_code, 1) << again_out;
  EXPECT_THAT(again_out, HasSubstr("nothing was changed"));

  absl::StatusOr<Replica> a = StartReplica("a");
  ASSERT_TRUE(a.ok()) << a.status() << ReadFile(scratch_.File("a.log"));
  absl::StatusOr<Replica> b = StartReplica("b");
  ASSERT_TRUE(b.ok()) << b.status() << ReadFile(scratch_.File("b.log"));
  for (Replica* replica : {&*a, &*b}) {
    const v1::HealthResponse health = Health(*replica->admin);
    EXPECT_TRUE(health.serving());
    EXPECT_EQ(health.store(), "etcd");
    EXPECT_EQ(health.kek_provider(), "pkcs11");
    EXPECT_EQ(health.current_kek_version(), 1u);
    EXPECT_TRUE(health.insecure_allow_unattested());
  }

  // The same volume created through both replicas at once: one record, one key.
  absl::StatusOr<Session> controller_a = Attest(*a->keys, "controller/a");
  absl::StatusOr<Session> controller_b = Attest(*b->keys, "controller/b");
  ASSERT_TRUE(controller_a.ok() && controller_b.ok());
  absl::StatusOr<v1::CreateVolumeKeyResponse> created_a, created_b;
  std::thread racer([&] { created_a = Create(*a->keys, *controller_a, "pvc-shared"); });
  created_b = Create(*b->keys, *controller_b, "pvc-shared");
  racer.join();
  ASSERT_TRUE(created_a.ok()) << created_a.status();
  ASSERT_TRUE(created_b.ok()) << created_b.status();
  EXPECT_EQ(created_a->record_json(), created_b->record_json());
  v1::ListVolumesResponse listed;
  grpc::ClientContext list_context;
  ASSERT_TRUE(b->admin->ListVolumes(&list_context, {}, &listed).ok());
  EXPECT_EQ(listed.volumes_size(), 1);

  absl::StatusOr<Session> node_a = Attest(*a->keys, "node/worker-a");
  absl::StatusOr<Session> node_b = Attest(*b->keys, "node/worker-b");
  ASSERT_TRUE(node_a.ok() && node_b.ok());
  absl::StatusOr<SecretBytes> dek_a = FetchDek(*a->keys, *node_a, "pvc-shared");
  absl::StatusOr<SecretBytes> dek_b = FetchDek(*b->keys, *node_b, "pvc-shared");
  ASSERT_TRUE(dek_a.ok()) << dek_a.status();
  ASSERT_TRUE(dek_b.ok()) << dek_b.status();
  EXPECT_TRUE(*dek_a == *dek_b);

  // Rotation started on A, watched and used through B.
  v1::RotationStatus started;
  grpc::ClientContext rotate_context;
  ASSERT_TRUE(a->admin->RotateKek(&rotate_context, {}, &started).ok());
  EXPECT_EQ(started.target_kek_version(), 2u);
  v1::RotationStatus seen_by_b;
  for (int i = 0; i < 300; ++i) {
    seen_by_b = Rotation(*b->admin);
    if (seen_by_b.state() == v1::RotationStatus::STATE_COMPLETED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(seen_by_b.state(), v1::RotationStatus::STATE_COMPLETED);
  EXPECT_EQ(seen_by_b.target_kek_version(), 2u);
  EXPECT_EQ(Health(*b->admin).rotation_state(), v1::RotationStatus::STATE_COMPLETED);

  // B unwraps under the version A created inside the shared token, and wraps new keys
  // under it rather than under the retired version 1.
  absl::StatusOr<SecretBytes> after = FetchDek(*b->keys, *node_b, "pvc-shared");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(*after == *dek_a);
  absl::StatusOr<v1::CreateVolumeKeyResponse> fresh = Create(*b->keys, *controller_b, "pvc-new");
  ASSERT_TRUE(fresh.ok()) << fresh.status() << ReadFile(scratch_.File("b.log"));
  v1::GetVolumeRequest get;
  get.set_volume_id("pvc-new");
  v1::VolumeInfo info;
  grpc::ClientContext get_context;
  ASSERT_TRUE(a->admin->GetVolume(&get_context, get, &info).ok());
  EXPECT_EQ(info.kek_version(), 2u);
  EXPECT_TRUE(FetchDek(*a->keys, *node_a, "pvc-new").ok());

  for (Replica* replica : {&*a, &*b}) {
    replica->process->Signal(SIGTERM);
    EXPECT_EQ(replica->process->WaitExit(std::chrono::seconds(15)), 0);
  }
}

}  // namespace
}  // namespace cloak::kms::server_test
