// ControllerService over the real LocalBackend (in a temporary directory) and a fake key
// service: every RPC's success path and error codes, idempotency, pagination, and that a
// failure leaves neither a backing file nor a key behind.

#include "controller/controller_service.h"

#include <filesystem>
#include <map>
#include <set>

#include "controller/local_backend.h"
#include "controller/request_validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/csi/test_support.h"

namespace cloak::controller {
namespace {

namespace csi = ::csi::v1;
namespace v1 = ::cloak::kms::v1;
using ::testing::HasSubstr;
using AccessMode = csi::VolumeCapability::AccessMode;

// The key lifecycle as the key service keeps it: live keys with their mode and labels,
// destroyed ids retired for good.
class FakeKeys final : public kms::client::KeyServiceClient {
 public:
  absl::StatusOr<kms::client::SessionInfo> Attest() override { return kms::client::SessionInfo{}; }
  absl::StatusOr<kms::client::VolumeKey> GetVolumeKey(const std::string&) override {
    return absl::PermissionDeniedError("a controller never receives keys");
  }
  absl::StatusOr<kms::client::VolumeKeyInfo> CreateVolumeKey(
      const std::string& id, v1::IntegrityMode mode, const kms::client::Labels& labels) override {
    ++creates;
    if (!create_error.ok()) {
      if (create_then_fail) keys[id] = {mode, labels};
      return create_error;
    }
    if (destroyed.contains(id)) return absl::AlreadyExistsError(id + " was destroyed");
    keys[id] = {mode, labels};
    return kms::client::VolumeKeyInfo{
        .volume_id = id, .key_version = 1, .state = v1::VOLUME_STATE_CREATED, .record_json = "{}"};
  }
  absl::StatusOr<v1::VolumeState> ReportVolumeState(const std::string&, v1::VolumeState,
                                                    v1::VolumeState) override {
    return absl::PermissionDeniedError("node role only");
  }
  absl::Status DestroyVolumeKey(const std::string& id) override {
    ++destroys;
    if (!destroy_error.ok()) return destroy_error;
    keys.erase(id);
    destroyed.insert(id);
    return absl::OkStatus();
  }
  absl::StatusOr<kms::client::VolumeKeyInfo> CloneVolumeKey(const std::string&, const std::string&,
                                                            const kms::client::Labels&) override {
    return absl::UnimplementedError("not used");
  }
  const std::string& address() const override { return address_; }

  std::map<std::string, std::pair<v1::IntegrityMode, kms::client::Labels>> keys;
  std::set<std::string> destroyed;
  absl::Status create_error = absl::OkStatus();
  bool create_then_fail = false;  // the key is made, then the answer is lost
  absl::Status destroy_error = absl::OkStatus();
  int creates = 0;
  int destroys = 0;

 private:
  const std::string address_ = "127.0.0.1:7443";
};

csi::CreateVolumeRequest CreateRequest(const std::string& name, std::int64_t bytes = 64 << 20,
                                       const std::string& fs_type = "ext4") {
  csi::CreateVolumeRequest request;
  request.set_name(name);
  request.mutable_capacity_range()->set_required_bytes(bytes);
  auto* capability = request.add_volume_capabilities();
  capability->mutable_mount()->set_fs_type(fs_type);
  capability->mutable_access_mode()->set_mode(AccessMode::SINGLE_NODE_WRITER);
  return request;
}

class ControllerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = LocalBackend::Open({.dir = dir_.path() + "/local", .node_id = "node-a"});
    ASSERT_TRUE(opened.ok()) << opened.status();
    backend_ = *std::move(opened);
    service_ = std::make_unique<ControllerService>(ControllerServiceDeps{
        .keys = &keys_, .backend = backend_.get(), .faults = nullptr, .logger = log_.logger()});
  }

  csi::Volume MustCreate(const csi::CreateVolumeRequest& request) {
    csi::CreateVolumeResponse response;
    const absl::Status status = service_->Create(request, &response);
    EXPECT_TRUE(status.ok()) << status;
    return response.volume();
  }
  absl::Status Create(const csi::CreateVolumeRequest& request) {
    csi::CreateVolumeResponse response;
    return service_->Create(request, &response);
  }
  absl::Status Delete(const std::string& id) {
    csi::DeleteVolumeRequest request;
    request.set_volume_id(id);
    return service_->Delete(request);
  }
  std::size_t BackingFiles() const {
    std::size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path() + "/local")) {
      count += entry.path().extension() == ".img";
    }
    return count;
  }

  testing::TempDir dir_;
  testing::CapturedLog log_;
  FakeKeys keys_;
  std::unique_ptr<LocalBackend> backend_;
  std::unique_ptr<ControllerService> service_;
};

TEST_F(ControllerServiceTest, CreateMakesBackingAndKeyWithLabels) {
  csi::CreateVolumeRequest request = CreateRequest("pvc-1");
  (*request.mutable_parameters())["integrity"] = "hmac-sha256";
  (*request.mutable_parameters())[kParamPvcName] = "data";
  (*request.mutable_parameters())[kParamPvcNamespace] = "shop";
  (*request.mutable_secrets())["token"] = "s3cr3t-never-logged";
  const csi::Volume volume = MustCreate(request);
  EXPECT_THAT(volume.volume_id(), ::testing::StartsWith("vol-"));
  EXPECT_EQ(volume.capacity_bytes(), 64 << 20);
  EXPECT_EQ(volume.volume_context().at(kContextIntegrity), "hmac-sha256");
  ASSERT_EQ(volume.accessible_topology_size(), 1);
  EXPECT_EQ(volume.accessible_topology(0).segments().at("topology.cloak.csi.dev/node"), "node-a");
  ASSERT_TRUE(keys_.keys.contains(volume.volume_id()));
  const auto& [mode, labels] = keys_.keys.at(volume.volume_id());
  EXPECT_EQ(mode, v1::INTEGRITY_MODE_HMAC_SHA256);
  EXPECT_EQ(labels, (kms::client::Labels{{kParamPvcName, "data"},
                                         {kParamPvcNamespace, "shop"},
                                         {kLabelVolumeName, "pvc-1"}}));
  EXPECT_TRUE(std::filesystem::exists(backend_->BackingFile(volume.volume_id())));
  EXPECT_THAT(log_.text(), HasSubstr("volume created"));
  EXPECT_THAT(log_.text(), ::testing::Not(HasSubstr("s3cr3t")));
}

TEST_F(ControllerServiceTest, SameNameSameVolumeIncompatibleAlreadyExists) {
  const csi::Volume first = MustCreate(CreateRequest("pvc-1"));
  EXPECT_EQ(MustCreate(CreateRequest("pvc-1")).volume_id(), first.volume_id());
  EXPECT_EQ(keys_.creates, 1) << "a ready volume's key is not asked for again";
  const absl::Status bigger = Create(CreateRequest("pvc-1", 128 << 20));
  EXPECT_EQ(bigger.code(), absl::StatusCode::kAlreadyExists);
  csi::CreateVolumeRequest aead = CreateRequest("pvc-1");
  (*aead.mutable_parameters())["integrity"] = "aead";
  EXPECT_EQ(Create(aead).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(BackingFiles(), 1u);
}

TEST_F(ControllerServiceTest, CreateRefusesBadRequestsByField) {
  struct Case {
    csi::CreateVolumeRequest request;
    absl::StatusCode code;
    std::string mentions;
  };
  std::vector<Case> cases;
  cases.push_back({CreateRequest(""), absl::StatusCode::kInvalidArgument, "name"});
  csi::CreateVolumeRequest no_caps = CreateRequest("v");
  no_caps.clear_volume_capabilities();
  cases.push_back({no_caps, absl::StatusCode::kInvalidArgument, "volume_capabilities"});
  csi::CreateVolumeRequest multi = CreateRequest("v");
  multi.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(
      AccessMode::MULTI_NODE_MULTI_WRITER);
  cases.push_back({multi, absl::StatusCode::kInvalidArgument, "MULTI_NODE_MULTI_WRITER"});
  csi::CreateVolumeRequest source = CreateRequest("v");
  source.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id("s");
  cases.push_back({source, absl::StatusCode::kInvalidArgument, "volume_content_source"});
  csi::CreateVolumeRequest unknown = CreateRequest("v");
  (*unknown.mutable_parameters())["encryption"] = "off";
  cases.push_back({unknown, absl::StatusCode::kInvalidArgument, "parameters[\"encryption\"]"});
  csi::CreateVolumeRequest range = CreateRequest("v");
  range.mutable_capacity_range()->set_limit_bytes(1 << 20);
  cases.push_back({range, absl::StatusCode::kInvalidArgument, "limit_bytes"});
  csi::CreateVolumeRequest odd = CreateRequest("v", (1 << 20) + 1);
  odd.mutable_capacity_range()->set_limit_bytes((1 << 20) + 2);
  cases.push_back({odd, absl::StatusCode::kOutOfRange, "capacity_range"});
  csi::CreateVolumeRequest small_xfs = CreateRequest("v", 64 << 20, "xfs");
  small_xfs.mutable_capacity_range()->set_limit_bytes(100 << 20);
  cases.push_back({small_xfs, absl::StatusCode::kOutOfRange, "minimum"});
  csi::CreateVolumeRequest elsewhere = CreateRequest("v");
  (*elsewhere.mutable_accessibility_requirements()
        ->add_requisite()
        ->mutable_segments())["topology.cloak.csi.dev/node"] = "node-b";
  cases.push_back({elsewhere, absl::StatusCode::kResourceExhausted, "node-a"});
  cases.push_back(
      {CreateRequest("v", std::int64_t{1} << 49), absl::StatusCode::kResourceExhausted, "free"});
  for (const Case& c : cases) {
    const absl::Status status = Create(c.request);
    EXPECT_EQ(status.code(), c.code) << c.mentions << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(c.mentions));
  }
  EXPECT_EQ(BackingFiles(), 0u);
  EXPECT_TRUE(keys_.keys.empty());
}

TEST_F(ControllerServiceTest, XfsGetsItsMinimumWhenTheRangeAllows) {
  const csi::Volume volume = MustCreate(CreateRequest("v", 64 << 20, "xfs"));
  EXPECT_GE(volume.capacity_bytes(), kMinXfsBytes);
}

TEST_F(ControllerServiceTest, AKeyServiceRefusalLeavesNothingBehind) {
  keys_.create_error = absl::PermissionDeniedError("role node may not create keys");
  const absl::Status status = Create(CreateRequest("pvc-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("role controller"));
  EXPECT_EQ(BackingFiles(), 0u);
  EXPECT_TRUE(backend_->List(0, 0).empty());
  EXPECT_EQ(backend_->LastSequence(), 1u);
}

TEST_F(ControllerServiceTest, AKeyMadeButAnswerLostIsDestroyedWithTheBacking) {
  keys_.create_error = absl::UnavailableError("connection reset");
  keys_.create_then_fail = true;
  const absl::Status status = Create(CreateRequest("pvc-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(keys_.keys.empty()) << "the key the lost call made is destroyed";
  EXPECT_EQ(keys_.destroyed.size(), 1u);
  EXPECT_EQ(BackingFiles(), 0u);
  // The retry creates a fresh volume (the destroyed id stays retired).
  keys_.create_error = absl::OkStatus();
  const csi::Volume volume = MustCreate(CreateRequest("pvc-1"));
  EXPECT_FALSE(keys_.destroyed.contains(volume.volume_id()));
  EXPECT_EQ(keys_.keys.size(), 1u);
  EXPECT_EQ(BackingFiles(), 1u);
}

TEST_F(ControllerServiceTest, AnUnreachableKeyServiceLeavesAPendingVolumeTheRetryFinishes) {
  keys_.create_error = absl::UnavailableError("connection refused");
  keys_.destroy_error = absl::UnavailableError("connection refused");
  EXPECT_EQ(Create(CreateRequest("pvc-1")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(BackingFiles(), 1u) << "kept for the retry: no word that no key exists";
  EXPECT_TRUE(backend_->List(0, 0).empty());
  keys_.create_error = absl::OkStatus();
  keys_.destroy_error = absl::OkStatus();
  const csi::Volume volume = MustCreate(CreateRequest("pvc-1"));
  EXPECT_EQ(BackingFiles(), 1u);
  EXPECT_EQ(backend_->List(0, 0).size(), 1u);
  EXPECT_TRUE(keys_.keys.contains(volume.volume_id()));
}

TEST_F(ControllerServiceTest, AbandonedPendingVolumesAreSweptAfterTheExpiry) {
  using std::chrono::hours;
  using std::chrono::minutes;
  // Two claims whose CreateVolume failed with the key service unreachable, one of which
  // (pvc-kept) a retry finishes; pvc-gone is deleted before any retry.
  keys_.create_error = absl::UnavailableError("connection refused");
  keys_.create_then_fail = true;  // the key may exist: the sweep must destroy it
  keys_.destroy_error = absl::UnavailableError("connection refused");
  EXPECT_EQ(Create(CreateRequest("pvc-gone")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Create(CreateRequest("pvc-kept")).code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(backend_->ListPending().size(), 2u);
  const std::string gone = backend_->ListPending()[0].volume_id;
  const auto start = std::chrono::steady_clock::now();

  // Before the expiry nothing is touched; neither while the key service is down.
  EXPECT_EQ(service_->SweepAbandonedPending(start + minutes(59), hours(1)), 0u);
  EXPECT_EQ(service_->SweepAbandonedPending(start + minutes(61), hours(1)), 0u);
  EXPECT_EQ(backend_->ListPending().size(), 2u);
  EXPECT_EQ(BackingFiles(), 2u);
  EXPECT_THAT(log_.text(), HasSubstr("abandoned pending volume not removed"));

  // The key service is back; a retry of pvc-kept finishes it.
  keys_.create_error = absl::OkStatus();
  keys_.create_then_fail = false;
  keys_.destroy_error = absl::OkStatus();
  const csi::Volume kept = MustCreate(CreateRequest("pvc-kept"));
  EXPECT_EQ(service_->SweepAbandonedPending(start + minutes(62), hours(1)), 1u);
  EXPECT_TRUE(backend_->ListPending().empty());
  EXPECT_EQ(backend_->Get(gone).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(keys_.destroyed.contains(gone)) << "its key, if any, is destroyed";
  EXPECT_FALSE(keys_.keys.contains(gone));
  EXPECT_TRUE(keys_.keys.contains(kept.volume_id()));
  EXPECT_EQ(BackingFiles(), 1u);
  EXPECT_THAT(log_.text(), HasSubstr("abandoned pending volume removed"));
  // A claim of the swept name later gets a fresh volume.
  EXPECT_NE(MustCreate(CreateRequest("pvc-gone")).volume_id(), gone);
}

TEST_F(ControllerServiceTest, PendingVolumesFoundAtStartGetTheWholeExpiry) {
  keys_.create_error = absl::UnavailableError("connection refused");
  keys_.destroy_error = absl::UnavailableError("connection refused");
  EXPECT_EQ(Create(CreateRequest("pvc-1")).code(), absl::StatusCode::kUnavailable);
  keys_.destroy_error = absl::OkStatus();
  // A restarted controller: a new service over the same backend, which it has not seen
  // touched; the first sweep starts the clock.
  service_ = std::make_unique<ControllerService>(ControllerServiceDeps{
      .keys = &keys_, .backend = backend_.get(), .faults = nullptr, .logger = log_.logger()});
  const auto start = std::chrono::steady_clock::now() + std::chrono::hours(5);
  EXPECT_EQ(service_->SweepAbandonedPending(start, std::chrono::hours(1)), 0u);
  EXPECT_EQ(
      service_->SweepAbandonedPending(start + std::chrono::minutes(59), std::chrono::hours(1)), 0u);
  EXPECT_EQ(service_->SweepAbandonedPending(start + std::chrono::hours(1), std::chrono::hours(1)),
            1u);
  EXPECT_EQ(BackingFiles(), 0u);
}

TEST_F(ControllerServiceTest, DeleteShredsTheKeyFirstAndIsIdempotent) {
  const csi::Volume volume = MustCreate(CreateRequest("pvc-1"));
  keys_.destroy_error = absl::UnavailableError("down");
  EXPECT_EQ(Delete(volume.volume_id()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(BackingFiles(), 1u) << "the backing stays until the key is gone";
  keys_.destroy_error = absl::OkStatus();
  ASSERT_TRUE(Delete(volume.volume_id()).ok());
  EXPECT_TRUE(keys_.destroyed.contains(volume.volume_id()));
  EXPECT_EQ(BackingFiles(), 0u);
  EXPECT_TRUE(Delete(volume.volume_id()).ok());
  EXPECT_TRUE(Delete("reallyfakevolumeid").ok());
  EXPECT_EQ(Delete("").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControllerServiceTest, ValidateVolumeCapabilities) {
  const csi::Volume volume = MustCreate(CreateRequest("pvc-1"));
  csi::ValidateVolumeCapabilitiesRequest request;
  request.set_volume_id(volume.volume_id());
  *request.add_volume_capabilities() = CreateRequest("x").volume_capabilities(0);
  csi::ValidateVolumeCapabilitiesResponse response;
  ASSERT_TRUE(service_->Validate(request, &response).ok());
  EXPECT_TRUE(response.has_confirmed());
  EXPECT_EQ(response.confirmed().volume_capabilities_size(), 1);

  request.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(
      AccessMode::MULTI_NODE_READER_ONLY);
  response.Clear();
  ASSERT_TRUE(service_->Validate(request, &response).ok());
  EXPECT_FALSE(response.has_confirmed());
  EXPECT_THAT(response.message(), HasSubstr("MULTI_NODE_READER_ONLY"));

  request.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(
      AccessMode::SINGLE_NODE_WRITER);
  (*request.mutable_parameters())["integrity"] = "aead";
  response.Clear();
  ASSERT_TRUE(service_->Validate(request, &response).ok());
  EXPECT_FALSE(response.has_confirmed());
  EXPECT_THAT(response.message(), HasSubstr("integrity none"));

  request.set_volume_id("vol-ffffffffffffffffffffffffffffffff");
  EXPECT_EQ(service_->Validate(request, &response).code(), absl::StatusCode::kNotFound);
  request.clear_volume_capabilities();
  EXPECT_EQ(service_->Validate(request, &response).code(), absl::StatusCode::kInvalidArgument);
  request.clear_volume_id();
  EXPECT_EQ(service_->Validate(request, &response).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControllerServiceTest, ListPagesSurviveDeletesAndSeeNewVolumes) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(MustCreate(CreateRequest("v" + std::to_string(i))).volume_id());
  csi::ListVolumesRequest request;
  request.set_max_entries(2);
  csi::ListVolumesResponse page;
  ASSERT_TRUE(service_->List(request, &page).ok());
  ASSERT_EQ(page.entries_size(), 2);
  EXPECT_EQ(page.entries(0).volume().volume_id(), ids[0]);
  ASSERT_FALSE(page.next_token().empty());
  // The last volume of the page goes, a new one comes: the token still works, and the
  // rest holds the third volume and the new one.
  ASSERT_TRUE(Delete(ids[1]).ok());
  const std::string added = MustCreate(CreateRequest("v3")).volume_id();
  csi::ListVolumesRequest next;
  next.set_starting_token(page.next_token());
  csi::ListVolumesResponse rest;
  ASSERT_TRUE(service_->List(next, &rest).ok());
  ASSERT_EQ(rest.entries_size(), 2);
  EXPECT_EQ(rest.entries(0).volume().volume_id(), ids[2]);
  EXPECT_EQ(rest.entries(1).volume().volume_id(), added);
  EXPECT_TRUE(rest.next_token().empty());

  csi::ListVolumesRequest bad;
  bad.set_starting_token("invalid-token");
  EXPECT_EQ(service_->List(bad, &rest).code(), absl::StatusCode::kAborted);
  bad.set_starting_token("");
  bad.set_max_entries(-1);
  EXPECT_EQ(service_->List(bad, &rest).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControllerServiceTest, CapacityIsPerTopology) {
  csi::GetCapacityRequest request;
  csi::GetCapacityResponse response;
  ASSERT_TRUE(service_->Capacity(request, &response).ok());
  EXPECT_GT(response.available_capacity(), 0);
  EXPECT_EQ(response.maximum_volume_size().value(), response.available_capacity());
  (*request.mutable_accessible_topology()->mutable_segments())["topology.cloak.csi.dev/node"] =
      "node-b";
  ASSERT_TRUE(service_->Capacity(request, &response).ok());
  EXPECT_EQ(response.available_capacity(), 0);
  (*request.mutable_parameters())["bogus"] = "1";
  EXPECT_EQ(service_->Capacity(request, &response).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControllerServiceTest, ExpandGrowsAndAsksForTheNode) {
  const csi::Volume volume = MustCreate(CreateRequest("pvc-1"));
  csi::ControllerExpandVolumeRequest request;
  request.set_volume_id(volume.volume_id());
  request.mutable_capacity_range()->set_required_bytes(96 << 20);
  csi::ControllerExpandVolumeResponse response;
  ASSERT_TRUE(service_->Expand(request, &response).ok());
  EXPECT_EQ(response.capacity_bytes(), 96 << 20);
  EXPECT_TRUE(response.node_expansion_required());
  EXPECT_EQ(std::filesystem::file_size(backend_->BackingFile(volume.volume_id())),
            std::uintmax_t{112} << 20);

  request.mutable_capacity_range()->set_limit_bytes(80 << 20);
  request.mutable_capacity_range()->set_required_bytes(0);
  EXPECT_EQ(service_->Expand(request, &response).code(), absl::StatusCode::kOutOfRange);
  request.clear_capacity_range();
  EXPECT_EQ(service_->Expand(request, &response).code(), absl::StatusCode::kInvalidArgument);
  request.mutable_capacity_range()->set_required_bytes(1 << 30);
  request.set_volume_id("vol-ffffffffffffffffffffffffffffffff");
  EXPECT_EQ(service_->Expand(request, &response).code(), absl::StatusCode::kNotFound);

  csi::CreateVolumeRequest integrity = CreateRequest("pvc-2");
  (*integrity.mutable_parameters())["integrity"] = "hmac-sha256";
  request.set_volume_id(MustCreate(integrity).volume_id());
  const absl::Status refused = service_->Expand(request, &response);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("cannot be grown in place"));
}

TEST_F(ControllerServiceTest, GetVolumeAndCapabilities) {
  const csi::Volume volume = MustCreate(CreateRequest("pvc-1"));
  csi::ControllerGetVolumeRequest request;
  request.set_volume_id(volume.volume_id());
  csi::ControllerGetVolumeResponse response;
  ASSERT_TRUE(service_->GetVolume(request, &response).ok());
  EXPECT_EQ(response.volume().volume_id(), volume.volume_id());
  EXPECT_EQ(response.volume().capacity_bytes(), volume.capacity_bytes());
  EXPECT_TRUE(response.has_status());
  request.set_volume_id("vol-ffffffffffffffffffffffffffffffff");
  EXPECT_EQ(service_->GetVolume(request, &response).code(), absl::StatusCode::kNotFound);

  csi::ControllerGetCapabilitiesResponse capabilities;
  ControllerService::GetCapabilities(&capabilities);
  std::set<int> types;
  for (const auto& capability : capabilities.capabilities()) types.insert(capability.rpc().type());
  using Rpc = csi::ControllerServiceCapability::RPC;
  EXPECT_EQ(types,
            (std::set<int>{Rpc::CREATE_DELETE_VOLUME, Rpc::LIST_VOLUMES, Rpc::GET_CAPACITY,
                           Rpc::EXPAND_VOLUME, Rpc::GET_VOLUME, Rpc::SINGLE_NODE_MULTI_WRITER}));
}

TEST_F(ControllerServiceTest, UnofferedRpcsAreUnimplemented) {
  csi::ControllerPublishVolumeRequest request;
  csi::ControllerPublishVolumeResponse response;
  EXPECT_EQ(service_->ControllerPublishVolume(nullptr, &request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace cloak::controller
