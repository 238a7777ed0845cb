#include "kms/service/request_validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kms/proto/kms.pb.h"
#include "kms/service/secret_fields.h"

namespace cloak::kms {
namespace {

TEST(RequestValidationTest, VolumeIdTable) {
  struct Case {
    std::string id;
    bool ok;
  };
  const std::vector<Case> cases = {{"pvc-1", true},
                                   {"a.b_c-D9", true},
                                   {std::string(47, 'x'), true},
                                   {"", false},
                                   {std::string(48, 'x'), false},
                                   {"a/b", false},
                                   {"a b", false},
                                   {"a\nb", false},
                                   {"\xc3\xa9t\xc3\xa9", false},
                                   {"..%2f", false}};
  for (const Case& c : cases) {
    absl::Status s = ValidateServiceVolumeId(c.id, "volume_id");
    EXPECT_EQ(s.ok(), c.ok) << c.id;
    if (!c.ok) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(s.message().find("volume_id"), std::string::npos);
    }
  }
}

// Every field that carries a token, evidence or a sealed key is marked cloak_secret, and
// stripping removes exactly those.
TEST(SecretFieldsTest, MarkedFieldsAreStripped) {
  v1::AttestRequest attest;
  attest.set_nonce(std::string(32, 'n'));
  attest.set_evidence("EVIDENCE-BYTES");
  std::string json = CloakStrippedJson(attest);
  EXPECT_EQ(json.find("EVIDENCE"), std::string::npos);
  EXPECT_NE(json.find("nonce"), std::string::npos);

  v1::GetVolumeKeyResponse key;
  key.set_sealed_dek("SEALED");
  key.set_sealed_dek_enc("ENC");
  key.set_record_json("{}");
  json = CloakStrippedJson(key);
  EXPECT_EQ(json.find("sealed"), std::string::npos);
  EXPECT_NE(json.find("record_json"), std::string::npos);

  v1::GetVolumeKeyRequest get;
  get.set_session_token("TOKEN");
  get.set_volume_id("pvc-1");
  json = CloakStrippedJson(get);
  EXPECT_EQ(json.find("session_token"), std::string::npos);
  EXPECT_NE(json.find("pvc-1"), std::string::npos);
}

TEST(SecretFieldsTest, EveryTokenEvidenceOrKeyFieldIsMarked) {
  const google::protobuf::FileDescriptor* file = v1::AttestRequest::descriptor()->file();
  int marked = 0;
  for (int m = 0; m < file->message_type_count(); ++m) {
    const google::protobuf::Descriptor* message = file->message_type(m);
    for (int f = 0; f < message->field_count(); ++f) {
      const google::protobuf::FieldDescriptor* field = message->field(f);
      const std::string& name = field->name();
      const bool secret_name = name.find("token") != std::string::npos ||
                               name.find("evidence") != std::string::npos ||
                               name.find("dek") != std::string::npos;
      const bool exempt =
          name == "evidence_type" || name == "page_token" || name == "next_page_token";
      if (secret_name && !exempt) {
        EXPECT_TRUE(IsCloakSecretField(*field)) << message->name() << "." << name;
      }
      if (IsCloakSecretField(*field)) ++marked;
    }
  }
  EXPECT_GE(marked, 9);
}

}  // namespace
}  // namespace cloak::kms
