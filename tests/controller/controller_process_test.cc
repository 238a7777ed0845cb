// cloak-csi --mode controller as a real process against the real cloak-kms on loopback
// TLS, attesting with its own AK on a swtpm under a policy that gives it the controller
// role. Every RPC's success path and error codes over gRPC; the key service's view of
// each volume (through cloakctl); and SIGKILL at each fault point of CreateVolume and
// DeleteVolume, restart, retry: one volume, one key, no orphans.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "csi/csi.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/attest/tpm/swtpm_fixture.h"
#include "tests/csi/plugin_process.h"
#include "tests/kms/server/kms_process.h"

namespace cloak::controller {
namespace {

namespace csi = ::csi::v1;
using attest::tpm::testing::Swtpm;
using cloak::testing::PluginProcess;
using cloak::testing::WaitForSocket;
using json = nlohmann::json;
using kms::server_test::InitAndServe;
using kms::server_test::KmsInstance;
using kms::server_test::Shell;
using ::testing::HasSubstr;

constexpr char kAkHandle[] = "0x81010003";  // cloak-csi's default for the controller

std::string BinaryDir() { return std::getenv("CLOAK_BINARY_DIR"); }

json LastJsonLine(const std::string& text) {
  std::string last;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') last = line;
  }
  return json::parse(last.empty() ? "{}" : last);
}

class ControllerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Swtpm::Available()) GTEST_SKIP() << "swtpm/swtpm_setup not installed";
    auto tpm = Swtpm::Start();
    ASSERT_TRUE(tpm.ok()) << tpm.status();
    tpm_ = *std::move(tpm);
    // The controller's AK (made at its handle now, as cloak-csi will find it), and the
    // PCR values its quotes will carry.
    const auto [code, out] = Shell(BinaryDir() + "/tests/kms/vm/kms_attest_tool identity --tcti '" +
                                   tpm_->TctiConf() + "' --ak-handle " + kAkHandle);
    ASSERT_EQ(code, 0) << out;
    const json identity = LastJsonLine(out);
    fingerprint_ = identity.at("ak_fingerprint").get<std::string>();

    auto kms = InitAndServe({"--log-level", "debug"});
    ASSERT_TRUE(kms.ok()) << kms.status();
    kms_ = *std::move(kms);
    const json policy = {
        {"version", 1},
        {"tpm",
         {{"pcrs", {{"0", {identity.at("pcrs").at("0")}}}}, {"trusted_aks", {fingerprint_}}}},
        {"rules",
         {{{"name", "controller"},
           {"role", "controller"},
           {"match", {{"tee", {"tpm"}}, {"ak_fingerprints", {fingerprint_}}}}}}}};
    const std::string policy_file = kms_->scratch->File("policy.json");
    std::ofstream(policy_file) << policy.dump(2);
    const auto [set, set_out] = Cloakctl("policy set " + policy_file);
    ASSERT_EQ(set, 0) << set_out;
    local_ = kms_->scratch->File("local");
    socket_ = kms_->scratch->File("controller.sock");
    log_ = kms_->scratch->File("controller.log");
  }

  void TearDown() override {
    controller_.reset();
    if (kms_ == nullptr) return;
    kms_->process->Signal(SIGTERM);
    EXPECT_EQ(kms_->process->WaitExit(std::chrono::seconds(15)), 0);
    if (HasFailure()) {
      std::fprintf(stderr, "--- controller log ---\n%s\n--- cloak-kms log ---\n%s\n",
                   cloak::testing::ReadFile(log_).c_str(),
                   cloak::testing::ReadFile(kms_->log).c_str());
    }
  }

  std::pair<int, std::string> Cloakctl(const std::string& command) {
    return Shell(BinaryDir() + "/cli/cloakctl --config " + kms_->scratch->File("cloakctl.yaml") +
                 " --kms " + kms_->address + " " + command);
  }

  // The key service's volumes, as an administrator sees them (cloakctl prints one
  // indented JSON document).
  json KeyServiceVolumes() {
    const auto [code, out] = Cloakctl("-o json volumes list --all");
    EXPECT_EQ(code, 0) << out;
    const json document = json::parse(out.substr(std::min(out.find('{'), out.size())), nullptr,
                                      /*allow_exceptions=*/false);
    EXPECT_TRUE(document.is_object()) << out;
    return document.is_object() ? document.value("volumes", json::array()) : json::array();
  }

  void Start(const std::string& faults = "", std::vector<std::string> extra_flags = {}) {
    controller_.reset();
    std::filesystem::remove(socket_);
    std::vector<std::string> flags{"--endpoint",    "unix://" + socket_,   "--mode",
                                   "controller",    "--node-id",           "node-a",
                                   "--state-dir",   kms_->scratch->path(), "--local-dir",
                                   local_,          "--kms-address",       kms_->address,
                                   "--kms-ca-file", kms_->dir + "/ca.pem", "--kms-server-name",
                                   "localhost",     "--attester",          "tpm",
                                   "--tpm-tcti",    tpm_->TctiConf(),      "--log-format",
                                   "json"};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    controller_ = std::make_unique<PluginProcess>(std::move(flags), log_, faults);
    ASSERT_TRUE(WaitForSocket(socket_)) << cloak::testing::ReadFile(log_);
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    stub_ = csi::Controller::NewStub(channel_);
  }

  template <typename Request, typename Response, typename Method>
  grpc::Status Call(Method method, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return ((*stub_).*method)(&context, request, response);
  }

  grpc::Status Create(const std::string& name, std::int64_t bytes, csi::Volume* volume,
                      std::map<std::string, std::string> parameters = {}) {
    csi::CreateVolumeRequest request;
    request.set_name(name);
    request.mutable_capacity_range()->set_required_bytes(bytes);
    auto* capability = request.add_volume_capabilities();
    capability->mutable_mount()->set_fs_type("ext4");
    capability->mutable_access_mode()->set_mode(
        csi::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    for (const auto& [key, value] : parameters) (*request.mutable_parameters())[key] = value;
    (*request.mutable_secrets())["password"] = "cloak-planted-secret-4f1d";
    csi::CreateVolumeResponse response;
    const grpc::Status status = Call(&csi::Controller::Stub::CreateVolume, request, &response);
    *volume = response.volume();
    return status;
  }

  grpc::Status Delete(const std::string& id) {
    csi::DeleteVolumeRequest request;
    request.set_volume_id(id);
    csi::DeleteVolumeResponse response;
    return Call(&csi::Controller::Stub::DeleteVolume, request, &response);
  }

  std::vector<std::string> BackingFiles() const {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(local_)) {
      if (entry.path().extension() == ".img") files.push_back(entry.path().stem().string());
    }
    return files;
  }

  std::unique_ptr<Swtpm> tpm_;
  std::unique_ptr<KmsInstance> kms_;
  std::string fingerprint_, local_, socket_, log_;
  std::unique_ptr<PluginProcess> controller_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<csi::Controller::Stub> stub_;
};

TEST_F(ControllerProcessTest, EveryRpcAgainstTheRealKeyService) {
  Start();
  {
    auto identity = csi::Identity::NewStub(channel_);
    grpc::ClientContext context;
    csi::ProbeResponse probe;
    ASSERT_TRUE(identity->Probe(&context, {}, &probe).ok());
    EXPECT_TRUE(probe.ready().value()) << cloak::testing::ReadFile(log_);
  }

  csi::Volume volume;
  ASSERT_TRUE(Create("pvc-a", 64 << 20, &volume,
                     {{"integrity", "hmac-sha256"},
                      {"csi.storage.k8s.io/pvc/name", "data"},
                      {"csi.storage.k8s.io/pvc/namespace", "shop"}})
                  .ok());
  const std::string id = volume.volume_id();
  EXPECT_EQ(volume.capacity_bytes(), 64 << 20);
  EXPECT_EQ(BackingFiles(), std::vector<std::string>{id});
  json volumes = KeyServiceVolumes();
  ASSERT_EQ(volumes.size(), 1u) << volumes.dump();
  EXPECT_EQ(volumes[0]["volume_id"], id);
  EXPECT_EQ(volumes[0]["state"], "created");
  EXPECT_EQ(volumes[0]["labels"]["csi.storage.k8s.io/pvc/namespace"], "shop");
  EXPECT_EQ(volumes[0]["labels"]["cloak.csi.dev/volume-name"], "pvc-a");

  // Idempotent; incompatible; bad parameters.
  csi::Volume again;
  ASSERT_TRUE(Create("pvc-a", 64 << 20, &again,
                     {{"integrity", "hmac-sha256"},
                      {"csi.storage.k8s.io/pvc/name", "data"},
                      {"csi.storage.k8s.io/pvc/namespace", "shop"}})
                  .ok());
  EXPECT_EQ(again.volume_id(), id);
  grpc::Status status = Create("pvc-a", 128 << 20, &again, {{"integrity", "hmac-sha256"}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  status = Create("pvc-b", 64 << 20, &again, {{"cipher", "null"}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("parameters[\"cipher\"]"));
  EXPECT_EQ(KeyServiceVolumes().size(), 1u);

  csi::ValidateVolumeCapabilitiesRequest validate;
  validate.set_volume_id(id);
  validate.add_volume_capabilities()->mutable_block();
  validate.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(
      csi::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  csi::ValidateVolumeCapabilitiesResponse validated;
  ASSERT_TRUE(Call(&csi::Controller::Stub::ValidateVolumeCapabilities, validate, &validated).ok());
  EXPECT_TRUE(validated.has_confirmed());

  csi::Volume second;
  ASSERT_TRUE(Create("pvc-b", 32 << 20, &second).ok());
  csi::ListVolumesRequest list;
  list.set_max_entries(1);
  csi::ListVolumesResponse page;
  ASSERT_TRUE(Call(&csi::Controller::Stub::ListVolumes, list, &page).ok());
  ASSERT_EQ(page.entries_size(), 1);
  EXPECT_EQ(page.entries(0).volume().volume_id(), id);
  list.set_starting_token(page.next_token());
  ASSERT_TRUE(Call(&csi::Controller::Stub::ListVolumes, list, &page).ok());
  ASSERT_EQ(page.entries_size(), 1);
  EXPECT_EQ(page.entries(0).volume().volume_id(), second.volume_id());
  list.set_starting_token("stale-or-forged");
  EXPECT_EQ(Call(&csi::Controller::Stub::ListVolumes, list, &page).error_code(),
            grpc::StatusCode::ABORTED);

  csi::GetCapacityResponse capacity;
  ASSERT_TRUE(Call(&csi::Controller::Stub::GetCapacity, csi::GetCapacityRequest(), &capacity).ok());
  EXPECT_GT(capacity.available_capacity(), 0);

  csi::ControllerExpandVolumeRequest expand;
  expand.set_volume_id(second.volume_id());
  expand.mutable_capacity_range()->set_required_bytes(48 << 20);
  csi::ControllerExpandVolumeResponse expanded;
  ASSERT_TRUE(Call(&csi::Controller::Stub::ControllerExpandVolume, expand, &expanded).ok());
  EXPECT_EQ(expanded.capacity_bytes(), 48 << 20);
  EXPECT_TRUE(expanded.node_expansion_required());
  expand.set_volume_id(id);  // integrity: cannot grow in place
  expand.mutable_capacity_range()->set_required_bytes(96 << 20);
  EXPECT_EQ(Call(&csi::Controller::Stub::ControllerExpandVolume, expand, &expanded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  csi::ControllerGetVolumeRequest get;
  get.set_volume_id(second.volume_id());
  csi::ControllerGetVolumeResponse got;
  ASSERT_TRUE(Call(&csi::Controller::Stub::ControllerGetVolume, get, &got).ok());
  EXPECT_EQ(got.volume().capacity_bytes(), 48 << 20);
  get.set_volume_id("vol-00000000000000000000000000000000");
  EXPECT_EQ(Call(&csi::Controller::Stub::ControllerGetVolume, get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);

  csi::ControllerPublishVolumeResponse published;
  EXPECT_EQ(Call(&csi::Controller::Stub::ControllerPublishVolume,
                 csi::ControllerPublishVolumeRequest(), &published)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  // Delete: the key is destroyed (crypto-shredded), then the backing file goes.
  ASSERT_TRUE(Delete(id).ok());
  for (const json& entry : KeyServiceVolumes()) {
    if (entry["volume_id"] == id) {
      EXPECT_EQ(entry["state"], "destroyed") << entry.dump();
    }
  }
  EXPECT_EQ(BackingFiles(), std::vector<std::string>{second.volume_id()});
  EXPECT_TRUE(Delete(id).ok());
  EXPECT_TRUE(Delete("vol-00000000000000000000000000000000").ok());

  // The key service audited the controller's creates and the destroy as the controller.
  const auto [code, audit] = Cloakctl("-o json audit list --limit 1000");
  ASSERT_EQ(code, 0) << audit;
  EXPECT_THAT(audit, HasSubstr("controller/controller@" + fingerprint_.substr(0, 16)));
  EXPECT_THAT(audit, HasSubstr("DestroyVolumeKey"));
  // CSI secrets appear nowhere.
  EXPECT_THAT(cloak::testing::ReadFile(log_), ::testing::Not(HasSubstr("cloak-planted-secret")));
  EXPECT_THAT(cloak::testing::ReadFile(kms_->log),
              ::testing::Not(HasSubstr("cloak-planted-secret")));
}

// SIGKILL at a fault point, restart, repeat the call: it completes, and exactly one
// backing file and one live key exist for the name.
class ControllerCrashTest : public ControllerProcessTest,
                            public ::testing::WithParamInterface<const char*> {};

TEST_P(ControllerCrashTest, CreateCompletesOnceAfterTheCrash) {
  Start(std::string(GetParam()) + "=kill");
  csi::Volume volume;
  EXPECT_FALSE(Create("pvc-crash", 32 << 20, &volume).ok());
  EXPECT_EQ(controller_->Wait(), -SIGKILL);
  ASSERT_EQ(BackingFiles().size(), 1u) << "the backing file exists at the crash";

  Start();
  ASSERT_TRUE(Create("pvc-crash", 32 << 20, &volume).ok());
  EXPECT_EQ(BackingFiles(), std::vector<std::string>{volume.volume_id()});
  const json volumes = KeyServiceVolumes();
  ASSERT_EQ(volumes.size(), 1u) << volumes.dump();
  EXPECT_EQ(volumes[0]["volume_id"], volume.volume_id());
  EXPECT_EQ(volumes[0]["state"], "created");
  csi::ListVolumesResponse listed;
  ASSERT_TRUE(Call(&csi::Controller::Stub::ListVolumes, csi::ListVolumesRequest(), &listed).ok());
  ASSERT_EQ(listed.entries_size(), 1);
}

INSTANTIATE_TEST_SUITE_P(FaultPoints, ControllerCrashTest,
                         ::testing::Values("controller.create.after_backing",
                                           "controller.create.after_key"));

// A claim deleted while its CreateVolume was failing: the crash leaves a pending volume
// with its key, and no retry comes. The restarted controller's sweep destroys the key
// and removes the backing file once the expiry has passed.
TEST_F(ControllerProcessTest, AnAbandonedPendingVolumeIsSweptWithItsKey) {
  Start("controller.create.after_key=kill");
  csi::Volume volume;
  EXPECT_FALSE(Create("pvc-abandoned", 32 << 20, &volume).ok());
  EXPECT_EQ(controller_->Wait(), -SIGKILL);
  const std::vector<std::string> files = BackingFiles();
  ASSERT_EQ(files.size(), 1u);
  ASSERT_EQ(KeyServiceVolumes().size(), 1u);
  EXPECT_EQ(KeyServiceVolumes()[0]["state"], "created");

  Start("", {"--controller-pending-expiry", "2"});
  for (int i = 0; i < 200 && !BackingFiles().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(BackingFiles().empty()) << "the sweep did not remove the backing file";
  const json volumes = KeyServiceVolumes();
  ASSERT_EQ(volumes.size(), 1u) << volumes.dump();
  EXPECT_EQ(volumes[0]["volume_id"], files[0]);
  EXPECT_EQ(volumes[0]["state"], "destroyed");
  EXPECT_THAT(cloak::testing::ReadFile(log_), HasSubstr("abandoned pending volume removed"));
  // The claim, were it to come back, gets a fresh volume.
  ASSERT_TRUE(Create("pvc-abandoned", 32 << 20, &volume).ok());
  EXPECT_NE(volume.volume_id(), files[0]);
}

// An expiry beyond a year (where the steady clock's arithmetic would overflow) or below
// zero is refused at start, naming the flag; nothing is opened or swept.
TEST(ControllerFlagsTest, APendingExpiryOutOfRangeIsRefused) {
  for (const char* value : {"31536001", "-1"}) {
    const auto [code, out] = Shell(BinaryDir() +
                                   "/csi/cloak-csi --mode controller --node-id a --endpoint "
                                   "unix:///nonexistent/c.sock --controller-pending-expiry " +
                                   value + " 2>&1");
    EXPECT_NE(code, 0) << value;
    EXPECT_THAT(out, HasSubstr("--controller-pending-expiry")) << out;
  }
}

TEST_F(ControllerProcessTest, DeleteCompletesAfterACrashBetweenShreddingAndRemoval) {
  Start("controller.delete.after_destroy=kill");
  csi::Volume volume;
  ASSERT_TRUE(Create("pvc-gone", 32 << 20, &volume).ok());
  EXPECT_FALSE(Delete(volume.volume_id()).ok());
  EXPECT_EQ(controller_->Wait(), -SIGKILL);
  EXPECT_EQ(KeyServiceVolumes()[0]["state"], "destroyed") << "the key went first";
  EXPECT_EQ(BackingFiles().size(), 1u);
  Start();
  ASSERT_TRUE(Delete(volume.volume_id()).ok());
  EXPECT_TRUE(BackingFiles().empty());
}

}  // namespace
}  // namespace cloak::controller
