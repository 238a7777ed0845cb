#include "csi/secret_stripper.h"

#include "csi/csi.pb.h"
#include "gtest/gtest.h"

namespace cloak::csi {
namespace {

constexpr char kMarker[] = "MARKER-5ecr3t-d0-not-log";

TEST(SecretStripperTest, SecretFieldsAreFoundThroughTheDescriptor) {
  // Every field the spec marks csi_secret, found by walking the file: the stripper
  // needs no list of its own.
  const auto* file = ::csi::v1::NodeStageVolumeRequest::descriptor()->file();
  int secret_fields = 0;
  for (int i = 0; i < file->message_type_count(); ++i) {
    const auto* message = file->message_type(i);
    for (int j = 0; j < message->field_count(); ++j) {
      if (IsSecretField(*message->field(j))) ++secret_fields;
    }
  }
  EXPECT_EQ(secret_fields, 19);  // 18 csi_secret rows plus one csi_secret+alpha row.
  EXPECT_TRUE(
      IsSecretField(*::csi::v1::NodeStageVolumeRequest::descriptor()->FindFieldByName("secrets")));
  EXPECT_FALSE(IsSecretField(
      *::csi::v1::NodeStageVolumeRequest::descriptor()->FindFieldByName("volume_context")));
}

TEST(SecretStripperTest, StripsTopLevelSecretsAndKeepsTheRest) {
  ::csi::v1::NodeStageVolumeRequest request;
  request.set_volume_id("vol-42");
  request.set_staging_target_path("/var/lib/kubelet/staging/vol-42");
  (*request.mutable_secrets())["passphrase"] = kMarker;
  (*request.mutable_volume_context())["integrity"] = "hmac-sha256";

  const std::string json = StrippedJson(request);
  EXPECT_EQ(json.find(kMarker), std::string::npos) << json;
  EXPECT_EQ(json.find("passphrase"), std::string::npos) << json;
  EXPECT_NE(json.find("vol-42"), std::string::npos);
  EXPECT_NE(json.find("hmac-sha256"), std::string::npos);
  // The original is untouched.
  EXPECT_EQ(request.secrets().at("passphrase"), kMarker);
}

TEST(SecretStripperTest, StripsSecretsNestedInsideOtherMessages) {
  // ListSnapshotsResponse has no secrets, but CreateSnapshotRequest and
  // ControllerModifyVolumeRequest do; nest one inside a repeated field to check the
  // walk, using a message whose repeated field holds messages with secrets.
  ::csi::v1::ValidateVolumeCapabilitiesRequest request;
  request.set_volume_id("vol-7");
  (*request.mutable_secrets())["token"] = kMarker;
  request.add_volume_capabilities()->mutable_mount()->set_fs_type("ext4");
  const std::string json = StrippedJson(request);
  EXPECT_EQ(json.find(kMarker), std::string::npos);
  EXPECT_NE(json.find("ext4"), std::string::npos);
}

TEST(SecretStripperTest, DropsUnknownFields) {
  // A newer client may send a secret field our definition does not know yet.
  ::csi::v1::NodeStageVolumeRequest request;
  request.set_volume_id("vol-1");
  std::string wire = request.SerializeAsString();
  // Field 99, wire type 2 (length-delimited): tag (99 << 3) | 2 = 794, as a varint.
  constexpr unsigned kTag = (99u << 3) | 2u;
  wire += static_cast<char>((kTag & 0x7fu) | 0x80u);
  wire += static_cast<char>(kTag >> 7);
  wire += static_cast<char>(sizeof(kMarker) - 1);
  wire += kMarker;
  ::csi::v1::NodeStageVolumeRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  ASSERT_FALSE(parsed.GetReflection()->GetUnknownFields(parsed).empty());
  const auto stripped = StripSecrets(parsed);
  EXPECT_TRUE(stripped->GetReflection()->GetUnknownFields(*stripped).empty());
  EXPECT_EQ(stripped->SerializeAsString().find(kMarker), std::string::npos);
}

}  // namespace
}  // namespace cloak::csi
