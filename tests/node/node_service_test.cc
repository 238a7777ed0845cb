// NodeService over fakes: the real crypt Engine on tests/crypt's fake cryptsetup, device
// mapper and block devices, a fake key service, mounter and loop devices, and the real
// StateStore in a temporary directory. Request validation, the stage/unstage reconcile
// (idempotency, never formatting twice, refusing a device with data), publish, stats,
// expand, concurrency and the error codes.

#include "node/node_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "tests/crypt/fake_cryptsetup.h"
#include "tests/node/node_fakes.h"

namespace cloak::node {
namespace {

namespace csi = ::csi::v1;
using crypt::IntegrityMode;
using ::testing::HasSubstr;

constexpr std::uint64_t kDeviceBytes = 1ull << 30;

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const absl::Status assert_ok_status = (expr);           \
    ASSERT_TRUE(assert_ok_status.ok()) << assert_ok_status; \
  } while (false)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const absl::Status expect_ok_status = (expr);           \
    EXPECT_TRUE(expect_ok_status.ok()) << expect_ok_status; \
  } while (false)

// One lock over the three crypt fakes, which are not thread-safe (FakeCryptsetup reaches
// into FakeDeviceMapper directly, hence one recursive mutex for all).
std::recursive_mutex& FakeLock() {
  static std::recursive_mutex mutex;
  return mutex;
}

class LockedCryptsetup final : public crypt::Cryptsetup {
 public:
  explicit LockedCryptsetup(crypt::Cryptsetup& inner) : inner_(inner) {}
  absl::Status Format(const std::string& device, const crypt::FormatSpec& spec,
                      const SecretBytes& key, const SecretBytes& passphrase) override {
    std::lock_guard lock(FakeLock());
    return inner_.Format(device, spec, key, passphrase);
  }
  absl::StatusOr<crypt::HeaderSnapshot> ReadHeader(const std::string& device) override {
    std::lock_guard lock(FakeLock());
    return inner_.ReadHeader(device);
  }
  absl::Status VerifyVolumeKey(const std::string& device, const SecretBytes& key) override {
    std::lock_guard lock(FakeLock());
    return inner_.VerifyVolumeKey(device, key);
  }
  absl::Status Activate(const std::string& device, const std::string& name, const SecretBytes& key,
                        const crypt::ActivateOptions& options,
                        const crypt::HeaderCheck& check) override {
    std::lock_guard lock(FakeLock());
    return inner_.Activate(device, name, key, options, check);
  }
  absl::Status Deactivate(const std::string& name) override {
    std::lock_guard lock(FakeLock());
    return inner_.Deactivate(name);
  }
  absl::Status Resize(const std::string& name, const SecretBytes& key) override {
    std::lock_guard lock(FakeLock());
    return inner_.Resize(name, key);
  }

 private:
  crypt::Cryptsetup& inner_;
};

class LockedDeviceMapper final : public crypt::DeviceMapper {
 public:
  explicit LockedDeviceMapper(crypt::DeviceMapper& inner) : inner_(inner) {}
  absl::StatusOr<crypt::DmDeviceInfo> Info(const std::string& name) override {
    std::lock_guard lock(FakeLock());
    return inner_.Info(name);
  }
  absl::StatusOr<std::vector<crypt::DmTarget>> Table(const std::string& name) override {
    std::lock_guard lock(FakeLock());
    return inner_.Table(name);
  }
  absl::StatusOr<std::vector<crypt::DmTarget>> Status(const std::string& name) override {
    std::lock_guard lock(FakeLock());
    return inner_.Status(name);
  }
  absl::Status Remove(const std::string& name) override {
    std::lock_guard lock(FakeLock());
    return inner_.Remove(name);
  }
  absl::Status CreateReadOnlyLinear(const std::string& name, std::uint32_t major,
                                    std::uint32_t minor, std::uint64_t sectors) override {
    std::lock_guard lock(FakeLock());
    return inner_.CreateReadOnlyLinear(name, major, minor, sectors);
  }
  absl::Status ReloadReadOnlyLinear(const std::string& name, std::uint32_t major,
                                    std::uint32_t minor, std::uint64_t sectors) override {
    std::lock_guard lock(FakeLock());
    return inner_.ReloadReadOnlyLinear(name, major, minor, sectors);
  }

 private:
  crypt::DeviceMapper& inner_;
};

class LockedBlockDevices final : public crypt::BlockDevices {
 public:
  explicit LockedBlockDevices(crypt::BlockDevices& inner) : inner_(inner) {}
  absl::StatusOr<std::vector<std::string>> ProbeSignatures(const std::string& path) override {
    std::lock_guard lock(FakeLock());
    return inner_.ProbeSignatures(path);
  }
  absl::StatusOr<crypt::DeviceNumber> Number(const std::string& path) override {
    std::lock_guard lock(FakeLock());
    return inner_.Number(path);
  }
  absl::StatusOr<std::uint64_t> SizeBytes(const std::string& path) override {
    std::lock_guard lock(FakeLock());
    return inner_.SizeBytes(path);
  }
  absl::StatusOr<std::unique_ptr<crypt::BlockWriter>> OpenWriter(const std::string& path) override {
    std::lock_guard lock(FakeLock());
    return inner_.OpenWriter(path);
  }

 private:
  crypt::BlockDevices& inner_;
};

class NodeServiceTest : public ::testing::Test {
 protected:
  NodeServiceTest()
      : cryptsetup_(dm_, devices_),
        locked_cryptsetup_(cryptsetup_),
        locked_dm_(dm_),
        locked_devices_(devices_),
        engine_(locked_cryptsetup_, locked_dm_, locked_devices_),
        mounter_(devices_) {
    char dir_template[] = "/tmp/cloak-node-test-XXXXXX";
    dir_ = ::mkdtemp(dir_template);
    std::filesystem::create_directories(dir_ + "/local");
    std::filesystem::create_directories(dir_ + "/staging");  // the CO makes these
    std::filesystem::create_directories(dir_ + "/pods");
    state_ = std::move(StateStore::Open(dir_ + "/state").value());
    service_ = std::make_unique<NodeService>(
        NodeServiceOptions{.node_id = "node-a", .local_dir = dir_ + "/local", .max_volumes = 64},
        NodeServiceDeps{.keys = &keys_,
                        .engine = &engine_,
                        .devices = &locked_devices_,
                        .mounter = &mounter_,
                        .loops = &loops_,
                        .state = state_.get(),
                        .faults = nullptr,
                        .logger = nullptr,
                        .kernel_log = &kernel_log_});
  }
  ~NodeServiceTest() override { std::filesystem::remove_all(dir_); }

  // A volume the controller created: its key in the key service, its backing file here,
  // the loop device it will get (in attach order) and its mapper device.
  void NewVolume(const std::string& id, IntegrityMode mode = IntegrityMode::kNone) {
    keys_.Create(id, mode);
    std::ofstream(service_->BackingFile(id)).put('\0');
    devices_.Add(fmt::format("/dev/loop{}", next_loop_), {7, next_loop_}, kDeviceBytes);
    devices_.Add(crypt::MapperPath(MapperName(id)), {253, 100 + next_loop_}, kDeviceBytes / 2);
    ++next_loop_;
  }

  csi::NodeStageVolumeRequest StageRequest(const std::string& id, std::string fs_type = "ext4") {
    csi::NodeStageVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path(dir_ + "/staging/" + id);
    auto* capability = request.mutable_volume_capability();
    capability->mutable_access_mode()->set_mode(
        csi::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    if (fs_type == "block") {
      capability->mutable_block();
    } else {
      capability->mutable_mount()->set_fs_type(fs_type);
    }
    return request;
  }

  csi::NodeUnstageVolumeRequest UnstageRequest(const std::string& id) {
    csi::NodeUnstageVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path(dir_ + "/staging/" + id);
    return request;
  }

  csi::NodePublishVolumeRequest PublishRequest(const std::string& id, bool readonly = false,
                                               std::string fs_type = "ext4") {
    const csi::NodeStageVolumeRequest stage = StageRequest(id, fs_type);
    csi::NodePublishVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path(stage.staging_target_path());
    const std::string pod = dir_ + "/pods/" + id + (readonly ? "-ro" : "");
    std::filesystem::create_directories(pod);  // the CO makes the target's parent
    request.set_target_path(pod + "/mount");
    *request.mutable_volume_capability() = stage.volume_capability();
    request.set_readonly(readonly);
    return request;
  }

  std::size_t Calls(std::string_view prefix) {
    std::size_t n = 0;
    for (const std::string& call : cryptsetup_.calls) n += call.starts_with(prefix) ? 1 : 0;
    return n;
  }

  std::string dir_;
  crypt::testing::FakeDeviceMapper dm_;
  crypt::testing::FakeBlockDevices devices_;
  crypt::testing::FakeCryptsetup cryptsetup_;
  LockedCryptsetup locked_cryptsetup_;
  LockedDeviceMapper locked_dm_;
  LockedBlockDevices locked_devices_;
  crypt::Engine engine_;
  testing::FakeKeyService keys_;
  testing::FakeMounter mounter_;
  testing::FakeLoopDevices loops_;
  testing::FakeKernelLog kernel_log_;
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<NodeService> service_;
  std::uint32_t next_loop_ = 0;
};

TEST_F(NodeServiceTest, CapabilitiesAndInfo) {
  csi::NodeGetCapabilitiesResponse capabilities;
  service_->GetCapabilities(&capabilities);
  std::vector<int> types;
  for (const auto& capability : capabilities.capabilities()) {
    types.push_back(capability.rpc().type());
  }
  using Rpc = csi::NodeServiceCapability::RPC;
  EXPECT_THAT(types, ::testing::UnorderedElementsAre(
                         Rpc::STAGE_UNSTAGE_VOLUME, Rpc::GET_VOLUME_STATS, Rpc::EXPAND_VOLUME,
                         Rpc::VOLUME_CONDITION, Rpc::SINGLE_NODE_MULTI_WRITER));
  csi::NodeGetInfoResponse info;
  service_->GetInfo(&info);
  EXPECT_EQ(info.node_id(), "node-a");
  EXPECT_EQ(info.max_volumes_per_node(), 64);
  EXPECT_EQ(info.accessible_topology().segments().at(kTopologyKey), "node-a");
}

TEST_F(NodeServiceTest, StageRequestsAreValidatedNamingTheField) {
  struct Case {
    std::string name;
    std::function<void(csi::NodeStageVolumeRequest&)> edit;
    absl::StatusCode code;
    std::string message;
  };
  using Mode = csi::VolumeCapability::AccessMode;
  const std::vector<Case> cases = {
      {"no volume id", [](auto& r) { r.clear_volume_id(); }, absl::StatusCode::kInvalidArgument,
       "volume_id is required"},
      {"foreign id", [](auto& r) { r.set_volume_id("../etc"); }, absl::StatusCode::kNotFound,
       "not a Cloak volume id"},
      {"no staging path", [](auto& r) { r.clear_staging_target_path(); },
       absl::StatusCode::kInvalidArgument, "staging_target_path is required"},
      {"relative staging path", [](auto& r) { r.set_staging_target_path("staging/x"); },
       absl::StatusCode::kInvalidArgument, "absolute path"},
      {"no capability", [](auto& r) { r.clear_volume_capability(); },
       absl::StatusCode::kInvalidArgument, "volume_capability is required"},
      {"multi-node",
       [](auto& r) {
         r.mutable_volume_capability()->mutable_access_mode()->set_mode(
             Mode::MULTI_NODE_MULTI_WRITER);
       },
       absl::StatusCode::kInvalidArgument, "MULTI_NODE_MULTI_WRITER is not supported"},
      {"btrfs",
       [](auto& r) { r.mutable_volume_capability()->mutable_mount()->set_fs_type("btrfs"); },
       absl::StatusCode::kInvalidArgument, "fs_type btrfs is not supported"},
      {"bad flag",
       [](auto& r) { r.mutable_volume_capability()->mutable_mount()->add_mount_flags("ro,exec"); },
       absl::StatusCode::kInvalidArgument, "mount_flags"},
      {"mount group",
       [](auto& r) {
         r.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("1000");
       },
       absl::StatusCode::kInvalidArgument, "volume_mount_group"},
      {"no backing file", [](auto&) {}, absl::StatusCode::kNotFound, "backing file"},
  };
  for (const Case& c : cases) {
    csi::NodeStageVolumeRequest request = StageRequest("pvc-1");
    c.edit(request);
    const absl::Status status = service_->Stage(request);
    EXPECT_EQ(status.code(), c.code) << c.name << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.name;
  }
  EXPECT_TRUE(cryptsetup_.calls.empty());
  EXPECT_EQ(keys_.releases, 0);
}

TEST_F(NodeServiceTest, NewVolumeIsFormattedOnceMountedReportedAndStagingIsIdempotent) {
  NewVolume("pvc-1");
  const csi::NodeStageVolumeRequest request = StageRequest("pvc-1");
  ASSERT_OK(service_->Stage(request));
  EXPECT_EQ(Calls("Format /dev/loop0"), 1u);
  EXPECT_EQ(mounter_.Count("MakeFilesystem /dev/mapper/cloak-pvc-1 ext4"), 1u);
  EXPECT_TRUE(mounter_.Mounted(request.staging_target_path()));
  EXPECT_EQ(keys_.volume("pvc-1").record.state, crypt::VolumeState::kFormatted);
  EXPECT_TRUE(dm_.Has("cloak-pvc-1"));
  absl::StatusOr<VolumeStateRecord> state = state_->Get("pvc-1");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->phase, StagePhase::kStaged);
  EXPECT_EQ(state->loop_device, "/dev/loop0");

  // Again: nothing is done twice, not even a key release.
  ASSERT_OK(service_->Stage(request));
  EXPECT_EQ(Calls("Format"), 1u);
  EXPECT_EQ(mounter_.Count("MakeFilesystem"), 1u);
  EXPECT_EQ(mounter_.Count("Mount "), 1u);
  EXPECT_EQ(keys_.releases, 1);

  // The same volume at another staging path, or as another filesystem, is refused.
  csi::NodeStageVolumeRequest elsewhere = request;
  elsewhere.set_staging_target_path(dir_ + "/other");
  EXPECT_EQ(service_->Stage(elsewhere).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(service_->Stage(StageRequest("pvc-1", "xfs")).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(NodeServiceTest, UnstageUndoesEverythingAndRestagingChecksInsteadOfFormatting) {
  NewVolume("pvc-1");
  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
  ASSERT_OK(service_->Unstage(UnstageRequest("pvc-1")));
  EXPECT_FALSE(mounter_.Mounted(StageRequest("pvc-1").staging_target_path()));
  EXPECT_EQ(dm_.size(), 0u);
  EXPECT_EQ(loops_.attached(), 0u);
  EXPECT_EQ(state_->Get("pvc-1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK(service_->Unstage(UnstageRequest("pvc-1")));  // idempotent

  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
  EXPECT_EQ(Calls("Format"), 1u);
  EXPECT_EQ(mounter_.Count("MakeFilesystem"), 1u);
  EXPECT_EQ(mounter_.Count("Mount "), 2u);
  EXPECT_EQ(keys_.reports, 1);
}

TEST_F(NodeServiceTest, ANewVolumeOnADeviceWithDataIsRefusedAndNothingIsWritten) {
  NewVolume("pvc-1");
  devices_.at("/dev/loop0").signatures = {"ext4"};
  const absl::Status status = service_->Stage(StageRequest("pvc-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(Calls("Format"), 0u);
  EXPECT_EQ(devices_.at("/dev/loop0").bytes_written, 0u);
  EXPECT_EQ(keys_.volume("pvc-1").record.state, crypt::VolumeState::kCreated);
  EXPECT_FALSE(dm_.Has("cloak-pvc-1"));
}

TEST_F(NodeServiceTest, AHeaderThatDoesNotMatchTheRecordIsRefusedNamingTheField) {
  NewVolume("pvc-1");
  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
  ASSERT_OK(service_->Unstage(UnstageRequest("pvc-1")));
  std::string& header = cryptsetup_.volumes.at("/dev/loop0").header.metadata_json;
  nlohmann::json json = nlohmann::json::parse(header);
  json["segments"]["0"]["encryption"] = "aes-cbc-essiv:sha256";
  header = json.dump();
  const absl::Status status = service_->Stage(StageRequest("pvc-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("encryption"));
  EXPECT_FALSE(dm_.Has("cloak-pvc-1"));
  EXPECT_FALSE(mounter_.Mounted(StageRequest("pvc-1").staging_target_path()));
}

TEST_F(NodeServiceTest, AnInterruptedStageResumesWithoutFormattingTwice) {
  NewVolume("pvc-1");
  mounter_.mkfs_error = absl::InternalError("mkfs.ext4 was killed");
  EXPECT_EQ(service_->Stage(StageRequest("pvc-1")).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(keys_.volume("pvc-1").record.state, crypt::VolumeState::kCreated);
  EXPECT_EQ(state_->Get("pvc-1")->phase, StagePhase::kStaging);

  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
  EXPECT_EQ(Calls("Format"), 1u);  // the header from the first attempt was checked, not redone
  EXPECT_EQ(mounter_.Count("MakeFilesystem"), 2u);
  EXPECT_EQ(keys_.volume("pvc-1").record.state, crypt::VolumeState::kFormatted);

  // Killed after mkfs, before the report reached the key service: the filesystem is
  // kept, not made again.
  NewVolume("pvc-2");
  ASSERT_OK(service_->Stage(StageRequest("pvc-2")));
  ASSERT_OK(service_->Unstage(UnstageRequest("pvc-2")));
  keys_.Create("pvc-2", IntegrityMode::kNone);  // the same key, the record still "created"
  ASSERT_OK(service_->Stage(StageRequest("pvc-2")));
  EXPECT_EQ(mounter_.Count("MakeFilesystem /dev/mapper/cloak-pvc-2"), 1u);
  EXPECT_EQ(Calls("Format /dev/loop1"), 1u);
}

TEST_F(NodeServiceTest, IntegrityVolumesHaveEveryTagWrittenBeforeTheFilesystem) {
  NewVolume("pvc-i", IntegrityMode::kHmacSha256);
  ASSERT_OK(service_->Stage(StageRequest("pvc-i")));
  const auto& mapper = devices_.at("/dev/mapper/cloak-pvc-i");
  EXPECT_EQ(mapper.bytes_written, mapper.size);
  EXPECT_TRUE(mapper.flushed);
  EXPECT_TRUE(state_->Get("pvc-i")->integrity_initialized);
  EXPECT_EQ(state_->Get("pvc-i")->integrity, "hmac-sha256");
  EXPECT_EQ(mounter_.Count("MakeFilesystem"), 1u);
}

TEST_F(NodeServiceTest, KeyServiceErrorsBecomeTheCodesACoActsOn) {
  NewVolume("pvc-1");
  keys_.next_error = absl::UnavailableError("the key service at 127.0.0.1:7443 is unreachable");
  absl::Status status = service_->Stage(StageRequest("pvc-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("volume pvc-1"));
  // A transient failure keeps the attached loop device for the retry ...
  EXPECT_EQ(loops_.attached(), 1u);
  EXPECT_TRUE(state_->Get("pvc-1").ok());
  keys_.next_error = absl::PermissionDeniedError("policy refused the evidence");
  status = service_->Stage(StageRequest("pvc-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("attestation"));
  // ... a final refusal leaves nothing behind (kubelet does not unstage a failed stage).
  EXPECT_EQ(loops_.attached(), 0u);
  EXPECT_EQ(state_->Get("pvc-1").status().code(), absl::StatusCode::kNotFound);
  keys_.next_error = absl::UnauthenticatedError("AK not trusted");
  EXPECT_EQ(service_->Stage(StageRequest("pvc-1")).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Calls("Format"), 0u);
  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
}

TEST_F(NodeServiceTest, PublishBindsTheStagingMountAndIsIdempotent) {
  NewVolume("pvc-1");
  EXPECT_EQ(service_->Publish(PublishRequest("pvc-1")).code(),
            absl::StatusCode::kFailedPrecondition);  // not staged
  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
  const csi::NodePublishVolumeRequest request = PublishRequest("pvc-1");
  ASSERT_OK(service_->Publish(request));
  ASSERT_OK(service_->Publish(request));
  EXPECT_EQ(
      mounter_.Count("BindMount " + request.staging_target_path() + " " + request.target_path()),
      1u);
  EXPECT_TRUE(std::filesystem::is_directory(request.target_path()));
  // The same target with the other read-only setting is another publication.
  csi::NodePublishVolumeRequest readonly = request;
  readonly.set_readonly(true);
  EXPECT_EQ(service_->Publish(readonly).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_OK(service_->Publish(PublishRequest("pvc-1", /*readonly=*/true)));
  EXPECT_EQ(mounter_.Count("BindMount"), 2u);

  // Unstage waits for every unpublish.
  EXPECT_EQ(service_->Unstage(UnstageRequest("pvc-1")).code(),
            absl::StatusCode::kFailedPrecondition);
  csi::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id("pvc-1");
  for (const auto& target : {request.target_path(), PublishRequest("pvc-1", true).target_path()}) {
    unpublish.set_target_path(target);
    ASSERT_OK(service_->Unpublish(unpublish));
    ASSERT_OK(service_->Unpublish(unpublish));
    EXPECT_FALSE(mounter_.Mounted(target));
    EXPECT_FALSE(std::filesystem::exists(target));
  }
  EXPECT_OK(service_->Unstage(UnstageRequest("pvc-1")));
}

TEST_F(NodeServiceTest, BlockVolumesBindTheMapperDeviceOntoAFile) {
  NewVolume("pvc-b");
  ASSERT_OK(service_->Stage(StageRequest("pvc-b", "block")));
  EXPECT_EQ(mounter_.Count("MakeFilesystem"), 0u);
  EXPECT_EQ(mounter_.Count("Mount "), 0u);
  const csi::NodePublishVolumeRequest request = PublishRequest("pvc-b", false, "block");
  ASSERT_OK(service_->Publish(request));
  ASSERT_OK(service_->Publish(request));
  EXPECT_EQ(mounter_.Count("BindMount /dev/mapper/cloak-pvc-b " + request.target_path()), 1u);
  EXPECT_TRUE(std::filesystem::is_regular_file(request.target_path()));
  // A mount capability for a block-staged volume is refused.
  EXPECT_EQ(service_->Publish(PublishRequest("pvc-b")).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NodeServiceTest, ReadOnlyBlockPublishesBindAReadOnlyViewOfTheMapping) {
  NewVolume("pvc-b");
  ASSERT_OK(service_->Stage(StageRequest("pvc-b", "block")));
  const csi::NodePublishVolumeRequest readonly = PublishRequest("pvc-b", true, "block");
  ASSERT_OK(service_->Publish(readonly));
  ASSERT_OK(service_->Publish(readonly));
  const std::string view = ReadOnlyViewName("pvc-b", readonly.target_path());
  EXPECT_THAT(view, ::testing::MatchesRegex("cloakro-[0-9a-f]{16}-pvc-b"));
  EXPECT_NE(view, ReadOnlyViewName("pvc-b", readonly.target_path() + "2"));
  EXPECT_EQ(mounter_.Count("BindMount /dev/mapper/" + view + " " + readonly.target_path() + " ro"),
            1u);
  EXPECT_EQ(mounter_.Count("BindMount /dev/mapper/cloak-pvc-b"), 0u);
  // The view: read-only, linear over the whole crypt mapping.
  const auto* crypt = dm_.Find("cloak-pvc-b");
  const auto* device = dm_.Find(view);
  ASSERT_NE(crypt, nullptr);
  ASSERT_NE(device, nullptr);
  EXPECT_TRUE(device->info.read_only);
  ASSERT_EQ(device->table.size(), 1u);
  EXPECT_EQ(device->table[0].type, "linear");
  EXPECT_EQ(device->table[0].params, fmt::format("253:{} 0", crypt->info.minor));
  EXPECT_EQ(device->table[0].length, crypt->table[0].length);

  // The same target writable is another publication.
  csi::NodePublishVolumeRequest writable = readonly;
  writable.set_readonly(false);
  EXPECT_EQ(service_->Publish(writable).code(), absl::StatusCode::kAlreadyExists);

  // A plugin killed between the view and the bind: the retry adopts the view.
  ASSERT_OK(mounter_.Unmount(readonly.target_path()));
  ASSERT_OK(service_->Publish(readonly));
  EXPECT_EQ(mounter_.Count("BindMount /dev/mapper/" + view), 2u);
  EXPECT_TRUE(mounter_.Mounted(readonly.target_path()));

  // NodeExpandVolume grows the view with the volume.
  const std::uint64_t old_length = device->table[0].length;
  devices_.at("/dev/loop0").size = 2 * kDeviceBytes;
  csi::NodeExpandVolumeRequest expand;
  expand.set_volume_id("pvc-b");
  expand.set_volume_path(readonly.target_path());
  csi::NodeExpandVolumeResponse expanded;
  ASSERT_OK(service_->Expand(expand, &expanded));
  EXPECT_GT(dm_.Find(view)->table[0].length, old_length);
  EXPECT_EQ(dm_.Find(view)->table[0].length, dm_.Find("cloak-pvc-b")->table[0].length);

  // A device of that name that is not this volume's view is left alone.
  const csi::NodePublishVolumeRequest other = PublishRequest("pvc-b", true, "block");
  csi::NodePublishVolumeRequest squatted = other;
  squatted.set_target_path(other.target_path() + "-squatted");
  dm_.Add(ReadOnlyViewName("pvc-b", squatted.target_path()), {{0, 8, "linear", "7:0 0"}});
  const absl::Status refused = service_->Publish(squatted);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not a read-only view"));
  EXPECT_FALSE(mounter_.Mounted(squatted.target_path()));
  EXPECT_EQ(dm_.Find(ReadOnlyViewName("pvc-b", squatted.target_path()))->table[0].params, "7:0 0");

  // Unpublishing removes the target's view; one still open is retried (UNAVAILABLE).
  // Unstage waits for every unpublish.
  csi::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id("pvc-b");
  unpublish.set_target_path(squatted.target_path());
  dm_.Find(ReadOnlyViewName("pvc-b", squatted.target_path()))->info.open_count = 1;
  EXPECT_EQ(service_->Unpublish(unpublish).code(), absl::StatusCode::kUnavailable);
  dm_.Find(ReadOnlyViewName("pvc-b", squatted.target_path()))->info.open_count = 0;
  ASSERT_OK(service_->Unpublish(unpublish));
  EXPECT_EQ(service_->Unstage(UnstageRequest("pvc-b")).code(),
            absl::StatusCode::kFailedPrecondition);
  unpublish.set_target_path(readonly.target_path());
  ASSERT_OK(service_->Unpublish(unpublish));
  ASSERT_OK(service_->Unpublish(unpublish));
  EXPECT_FALSE(dm_.Has(view));
  EXPECT_FALSE(mounter_.Mounted(readonly.target_path()));
  EXPECT_OK(service_->Unstage(UnstageRequest("pvc-b")));
  EXPECT_FALSE(dm_.Has("cloak-pvc-b"));
}

TEST_F(NodeServiceTest, StatsReportUsageAndTheVolumeCondition) {
  NewVolume("pvc-i", IntegrityMode::kHmacSha256);
  ASSERT_OK(service_->Stage(StageRequest("pvc-i")));
  csi::NodeGetVolumeStatsRequest request;
  request.set_volume_id("pvc-i");
  request.set_volume_path(StageRequest("pvc-i").staging_target_path());
  csi::NodeGetVolumeStatsResponse response;
  ASSERT_OK(service_->GetVolumeStats(request, &response));
  ASSERT_EQ(response.usage_size(), 2);
  EXPECT_EQ(response.usage(0).unit(), csi::VolumeUsage::BYTES);
  EXPECT_EQ(response.usage(0).total(), 1000);
  EXPECT_EQ(response.usage(0).available(), 600);
  EXPECT_EQ(response.usage(1).unit(), csi::VolumeUsage::INODES);
  EXPECT_EQ(response.usage(1).used(), 10);
  EXPECT_FALSE(response.volume_condition().abnormal());

  dm_.Find("cloak-pvc-i_dif")->status[0].params = "3 1000 -";
  response.Clear();
  ASSERT_OK(service_->GetVolumeStats(request, &response));
  EXPECT_TRUE(response.volume_condition().abnormal());
  EXPECT_THAT(response.volume_condition().message(), HasSubstr("3 corrupted sector"));

  ASSERT_TRUE(engine_.Close("cloak-pvc-i").ok());
  response.Clear();
  ASSERT_OK(service_->GetVolumeStats(request, &response));
  EXPECT_TRUE(response.volume_condition().abnormal());
  EXPECT_THAT(response.volume_condition().message(), HasSubstr("is gone"));

  request.set_volume_path(dir_ + "/nowhere");
  EXPECT_EQ(service_->GetVolumeStats(request, &response).code(), absl::StatusCode::kNotFound);
}

// dm-crypt authenticates AEAD/HMAC sectors itself and says so only in the kernel log.
TEST_F(NodeServiceTest, IntegrityErrorsInTheKernelLogMakeTheVolumeAbnormal) {
  NewVolume("pvc-i", IntegrityMode::kHmacSha256);
  const std::string crypt_device =
      fmt::format("dm-{}", devices_.at("/dev/mapper/cloak-pvc-i").number.minor);
  // Logged before this staging (another volume that had the same dm minor): not counted.
  kernel_log_.Append("trusted_key: device-mapper: crypt: " + crypt_device +
                     ": INTEGRITY AEAD ERROR, sector 8");
  ASSERT_OK(service_->Stage(StageRequest("pvc-i")));
  csi::NodeGetVolumeStatsRequest request;
  request.set_volume_id("pvc-i");
  request.set_volume_path(StageRequest("pvc-i").staging_target_path());
  csi::NodeGetVolumeStatsResponse response;
  ASSERT_OK(service_->GetVolumeStats(request, &response));
  EXPECT_FALSE(response.volume_condition().abnormal()) << response.volume_condition().message();

  kernel_log_.Append("device-mapper: crypt: dm-99: INTEGRITY AEAD ERROR, sector 8");  // another
  kernel_log_.Append("device-mapper: crypt: " + crypt_device + ": some other message");
  response.Clear();
  ASSERT_OK(service_->GetVolumeStats(request, &response));
  EXPECT_FALSE(response.volume_condition().abnormal());

  kernel_log_.Append("trusted_key: device-mapper: crypt: " + crypt_device +
                     ": INTEGRITY AEAD ERROR, sector 47840");
  response.Clear();
  ASSERT_OK(service_->GetVolumeStats(request, &response));
  EXPECT_TRUE(response.volume_condition().abnormal());
  EXPECT_THAT(response.volume_condition().message(), HasSubstr("1 integrity error"));
}

TEST(KernelLogTest, ParsesKmsgRecordsAndRecognisesIntegrityErrors) {
  absl::StatusOr<KmsgRecord> record = ParseKmsgRecord(
      "3,1234,5678901,-;device-mapper: crypt: dm-1: INTEGRITY HMAC ERROR\n"
      " SUBSYSTEM=block\n");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->sequence, 1234u);
  EXPECT_EQ(record->message, "device-mapper: crypt: dm-1: INTEGRITY HMAC ERROR");
  EXPECT_TRUE(IsIntegrityError(record->message, {"dm-1"}));
  EXPECT_FALSE(IsIntegrityError(record->message, {"dm-10"}));
  EXPECT_FALSE(IsIntegrityError("device-mapper: crypt: dm-10: INTEGRITY AEAD ERROR", {"dm-1"}));
  EXPECT_FALSE(IsIntegrityError("device-mapper: integrity: dm-1: Checksum failed", {"dm-1"}));
  for (const char* bad : {"", "no separators", "3,x,1,-;msg", "3;msg,1"}) {
    EXPECT_EQ(ParseKmsgRecord(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(NodeServiceTest, ExpandGrowsPlainVolumesAndRefusesIntegrityOnes) {
  NewVolume("pvc-1");
  ASSERT_OK(service_->Stage(StageRequest("pvc-1")));
  devices_.at("/dev/loop0").size = 2 * kDeviceBytes;
  csi::NodeExpandVolumeRequest request;
  request.set_volume_id("pvc-1");
  request.set_volume_path(StageRequest("pvc-1").staging_target_path());
  request.mutable_capacity_range()->set_required_bytes(static_cast<std::int64_t>(kDeviceBytes));
  csi::NodeExpandVolumeResponse response;
  const absl::Status expanded = service_->Expand(request, &response);
  ASSERT_TRUE(expanded.ok()) << expanded;
  EXPECT_THAT(loops_.refreshed, ::testing::ElementsAre("/dev/loop0"));
  EXPECT_EQ(mounter_.Count("GrowFilesystem /dev/mapper/cloak-pvc-1"), 1u);
  EXPECT_GT(response.capacity_bytes(), static_cast<std::int64_t>(kDeviceBytes));

  NewVolume("pvc-i", IntegrityMode::kHmacSha256);
  ASSERT_OK(service_->Stage(StageRequest("pvc-i")));
  request.set_volume_id("pvc-i");
  request.set_volume_path(StageRequest("pvc-i").staging_target_path());
  EXPECT_EQ(service_->Expand(request, &response).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(NodeServiceTest, ASecondCallOnABusyVolumeIsAbortedAndTwentyVolumesStageConcurrently) {
  for (int i = 0; i < 20; ++i) NewVolume(fmt::format("pvc-{}", i));
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  mounter_.on_mount = [&](const std::string& target) {
    if (target.ends_with("/pvc-0")) {
      entered.set_value();
      released.wait();
    }
  };
  auto first =
      std::async(std::launch::async, [&] { return service_->Stage(StageRequest("pvc-0")); });
  entered.get_future().wait();
  const absl::Status busy = service_->Stage(StageRequest("pvc-0"));
  EXPECT_EQ(busy.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(busy.message()), HasSubstr("pvc-0"));
  std::vector<std::future<absl::Status>> others;
  for (int i = 1; i < 20; ++i) {
    others.push_back(std::async(std::launch::async, [this, i] {
      return service_->Stage(StageRequest(fmt::format("pvc-{}", i)));
    }));
  }
  for (auto& other : others) EXPECT_TRUE(other.get().ok());
  release.set_value();
  EXPECT_TRUE(first.get().ok());
  EXPECT_EQ(dm_.size(), 20u);
  EXPECT_EQ(Calls("Format"), 20u);
}

TEST_F(NodeServiceTest, StateRecordsHoldNoKeyBytes) {
  NewVolume("pvc-i", IntegrityMode::kHmacSha256);
  ASSERT_OK(service_->Stage(StageRequest("pvc-i")));
  const std::vector<std::uint8_t> dek = keys_.volume("pvc-i").dek;
  const std::string raw(dek.begin(), dek.end());
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ + "/state")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.find(raw.substr(0, 16)), std::string::npos) << entry.path();
    EXPECT_EQ(text.find(absl::BytesToHexString(raw.substr(0, 16))), std::string::npos);
    EXPECT_EQ(text.find(absl::Base64Escape(raw).substr(0, 16)), std::string::npos);
    EXPECT_EQ(
        std::filesystem::status(entry.path()).permissions() & std::filesystem::perms::others_all,
        std::filesystem::perms::none);
  }
}

}  // namespace
}  // namespace cloak::node
