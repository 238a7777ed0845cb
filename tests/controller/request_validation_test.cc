// Request checks of the Controller service, as tables: each row names the field the
// error must name.

#include "controller/request_validation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cloak::controller {
namespace {

namespace csi = ::csi::v1;
using ::testing::HasSubstr;
using AccessMode = csi::VolumeCapability::AccessMode;

csi::VolumeCapability Mount(const std::string& fs_type, AccessMode::Mode mode) {
  csi::VolumeCapability capability;
  capability.mutable_mount()->set_fs_type(fs_type);
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

csi::VolumeCapability Block(AccessMode::Mode mode) {
  csi::VolumeCapability capability;
  capability.mutable_block();
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

TEST(RequestValidationTest, Names) {
  EXPECT_TRUE(ValidateName("pvc-3f9a0c1d").ok());
  EXPECT_TRUE(ValidateName(std::string(kMaxNameLength, 'n')).ok());
  struct Case {
    std::string name;
    std::string mentions;
  };
  for (const Case& c : {Case{"", "required"}, Case{std::string(kMaxNameLength + 1, 'n'), "at most"},
                        Case{"has space", "character 4"}, Case{"tab\there", "character 4"},
                        Case{"caf\xc3\xa9", "character 4"}}) {
    const absl::Status status = ValidateName(c.name);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(status.message(), HasSubstr("name: "));
    EXPECT_THAT(status.message(), HasSubstr(c.mentions));
  }
}

TEST(RequestValidationTest, Capabilities) {
  struct Case {
    csi::VolumeCapability capability;
    std::string error;  // empty: accepted
  };
  csi::VolumeCapability no_access_type;
  no_access_type.mutable_access_mode()->set_mode(AccessMode::SINGLE_NODE_WRITER);
  csi::VolumeCapability mount_group = Mount("ext4", AccessMode::SINGLE_NODE_WRITER);
  mount_group.mutable_mount()->set_volume_mount_group("1000");
  const Case cases[] = {
      {Mount("", AccessMode::SINGLE_NODE_WRITER), ""},
      {Mount("ext4", AccessMode::SINGLE_NODE_READER_ONLY), ""},
      {Mount("xfs", AccessMode::SINGLE_NODE_SINGLE_WRITER), ""},
      {Block(AccessMode::SINGLE_NODE_MULTI_WRITER), ""},
      {Mount("btrfs", AccessMode::SINGLE_NODE_WRITER), "fs_type btrfs is not supported"},
      {Mount("ext4", AccessMode::MULTI_NODE_MULTI_WRITER), "MULTI_NODE_MULTI_WRITER"},
      {Block(AccessMode::MULTI_NODE_READER_ONLY), "MULTI_NODE_READER_ONLY"},
      {Block(AccessMode::UNKNOWN), "access_mode UNKNOWN"},
      {no_access_type, "block or mount"},
      {mount_group, "volume_mount_group"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateCapability(c.capability, "volume_capabilities[0]");
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << status;
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_THAT(std::string(status.message()), ::testing::StartsWith("volume_capabilities[0]"));
    EXPECT_THAT(status.message(), HasSubstr(c.error));
  }
  Capabilities none;
  EXPECT_THAT(ValidateCapabilities(none).message(), HasSubstr("volume_capabilities: at least one"));
  Capabilities two;
  *two.Add() = Mount("ext4", AccessMode::SINGLE_NODE_WRITER);
  *two.Add() = Mount("ntfs", AccessMode::SINGLE_NODE_WRITER);
  EXPECT_THAT(ValidateCapabilities(two).message(), HasSubstr("volume_capabilities[1]"));
  EXPECT_EQ(MinimumCapacity(two), 0);
  *two.Mutable(1) = Mount("xfs", AccessMode::SINGLE_NODE_WRITER);
  EXPECT_EQ(MinimumCapacity(two), kMinXfsBytes);
}

TEST(RequestValidationTest, ParametersBecomeIntegrityAndLabels) {
  Parameters parameters;
  parameters[kParamIntegrity] = "hmac-sha256";
  parameters[kParamPvcName] = "data";
  parameters[kParamPvcNamespace] = "shop";
  parameters[kParamPvName] = "pvc-1";
  absl::StatusOr<CreateParameters> parsed = ParseParameters(parameters, "pvc-1");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->integrity, "hmac-sha256");
  EXPECT_EQ(parsed->labels, (Labels{{kParamPvcName, "data"},
                                    {kParamPvcNamespace, "shop"},
                                    {kParamPvName, "pvc-1"},
                                    {kLabelVolumeName, "pvc-1"}}));

  absl::StatusOr<CreateParameters> defaults = ParseParameters({}, "v");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->integrity, "none");

  struct Case {
    std::string key;
    std::string value;
    std::string mentions;
  };
  for (const Case& c : {Case{"integrity", "sha1", "\"sha1\" is not none, hmac-sha256 or aead"},
                        Case{"integrity", "", "is not none"},
                        Case{"fsType", "ext4", "parameters[\"fsType\"]: unknown"},
                        Case{"csi.storage.k8s.io/fstype", "ext4", "unknown StorageClass"},
                        Case{kParamPvcName, "", "1..253"}}) {
    Parameters bad;
    bad[c.key] = c.value;
    const absl::Status status = ParseParameters(bad, "v").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.key;
    EXPECT_THAT(status.message(), HasSubstr(c.mentions));
  }
}

TEST(RequestValidationTest, CapacityRanges) {
  csi::CapacityRange range;
  EXPECT_EQ(ValidateCapacityRange(range)->first, 0);
  EXPECT_EQ(ValidateCapacityRange(range)->second, 0);
  range.set_required_bytes(10);
  range.set_limit_bytes(10);
  EXPECT_TRUE(ValidateCapacityRange(range).ok());
  range.set_limit_bytes(9);
  EXPECT_THAT(ValidateCapacityRange(range).status().message(),
              HasSubstr("limit_bytes 9 is below required_bytes 10"));
  range.set_limit_bytes(0);
  range.set_required_bytes(-1);
  EXPECT_THAT(ValidateCapacityRange(range).status().message(),
              HasSubstr("capacity_range.required_bytes: is negative"));
  range.set_required_bytes(0);
  range.set_limit_bytes(-5);
  EXPECT_EQ(ValidateCapacityRange(range).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestValidationTest, ListTokensAreOnlyOurs) {
  EXPECT_EQ(*ParseListToken("", 0), 0u);
  EXPECT_EQ(*ParseListToken("7", 9), 7u);
  EXPECT_EQ(ListToken(7), "7");
  for (const std::string token : {"invalid-token", "10", "0", "07", "-1", "7 ", "1e3"}) {
    const absl::Status status = ParseListToken(token, 9).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << token;
    EXPECT_THAT(status.message(), HasSubstr("starting_token"));
  }
}

}  // namespace
}  // namespace cloak::controller
