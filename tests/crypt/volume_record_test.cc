#include "crypt/volume_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace cloak::crypt {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(DefaultRecord, FollowsDesignParametersPerIntegrityMode) {
  auto none = DefaultRecord("pvc-1", IntegrityMode::kNone);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->cipher, "aes-xts-plain64");
  EXPECT_EQ(none->key_size_bits, 512u);
  EXPECT_EQ(none->sector_size, 4096u);
  EXPECT_EQ(none->data_offset_bytes, 16u << 20);
  EXPECT_EQ(none->keyslots_size_bytes, (16u << 20) - 2 * 16384);
  EXPECT_EQ(none->keyslot_kdf, "pbkdf2");
  EXPECT_EQ(none->keyslot_iterations, 1000u);
  EXPECT_EQ(none->label, "pvc-1");
  EXPECT_EQ(none->subsystem, "cloak");
  EXPECT_EQ(none->state, VolumeState::kCreated);
  EXPECT_EQ(none->integrity_tag_size_bytes, 0u);

  auto hmac = DefaultRecord("pvc-1", IntegrityMode::kHmacSha256);
  ASSERT_TRUE(hmac.ok());
  EXPECT_EQ(hmac->cipher, "aes-xts-plain64");
  EXPECT_EQ(hmac->key_size_bits, 768u);
  EXPECT_EQ(hmac->integrity_tag_size_bytes, 32u);

  auto aead = DefaultRecord("pvc-1", IntegrityMode::kAead);
  ASSERT_TRUE(aead.ok());
  EXPECT_EQ(aead->cipher, "aes-gcm-random");
  EXPECT_EQ(aead->key_size_bits, 256u);
  EXPECT_EQ(aead->integrity_tag_size_bytes, 28u);
}

TEST(DefaultRecord, RefusesVolumeIdsThatCannotBeALabel) {
  EXPECT_FALSE(DefaultRecord("", IntegrityMode::kNone).ok());
  EXPECT_FALSE(DefaultRecord(std::string(48, 'a'), IntegrityMode::kNone).ok());
  EXPECT_FALSE(DefaultRecord("pvc/../x", IntegrityMode::kNone).ok());
  EXPECT_FALSE(DefaultRecord("pvc 1", IntegrityMode::kNone).ok());
  EXPECT_TRUE(DefaultRecord(std::string(47, 'a'), IntegrityMode::kNone).ok());
}

TEST(VolumeRecordJson, RoundTripsEveryMode) {
  for (IntegrityMode mode :
       {IntegrityMode::kNone, IntegrityMode::kHmacSha256, IntegrityMode::kAead}) {
    auto record = DefaultRecord("pvc-0b1c", mode);
    ASSERT_TRUE(record.ok());
    record->state = VolumeState::kFormatted;
    record->key_version = 7;
    auto parsed = ParseVolumeRecord(SerializeVolumeRecord(*record));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, *record);
  }
}

// Each case edits the serialised default record; the parse must fail naming `field`.
struct BadRecordCase {
  std::string name;
  std::function<void(json&)> edit;
  std::string field;
};

class BadVolumeRecord : public ::testing::TestWithParam<BadRecordCase> {};

TEST_P(BadVolumeRecord, IsRefusedNamingTheField) {
  auto record = DefaultRecord("pvc-1", IntegrityMode::kNone);
  ASSERT_TRUE(record.ok());
  json j = json::parse(SerializeVolumeRecord(*record));
  GetParam().edit(j);
  auto parsed = ParseVolumeRecord(j.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadVolumeRecord,
    ::testing::Values(
        BadRecordCase{"UnknownTopLevelKey", [](json& j) { j["extra"] = 1; }, "extra"},
        BadRecordCase{"UnknownNestedKey", [](json& j) { j["segment"]["mode"] = "x"; },
                      "segment.mode"},
        BadRecordCase{"MissingKey", [](json& j) { j.erase("digest"); }, "digest"},
        BadRecordCase{"WrongType", [](json& j) { j["segment"]["sector_size"] = "4096"; },
                      "segment.sector_size"},
        BadRecordCase{"NegativeNumber", [](json& j) { j["key_version"] = -1; }, "key_version"},
        BadRecordCase{"FractionalNumber", [](json& j) { j["key_version"] = 1.5; }, "key_version"},
        BadRecordCase{"HugeNumber", [](json& j) { j["key_version"] = 1ull << 40; }, "key_version"},
        BadRecordCase{"FutureVersion", [](json& j) { j["version"] = 2; }, "version"},
        BadRecordCase{"UnknownState", [](json& j) { j["state"] = "deleted"; }, "state"},
        BadRecordCase{"UnknownIntegrity", [](json& j) { j["integrity"]["mode"] = "crc32"; },
                      "integrity.mode"},
        BadRecordCase{"CipherNull", [](json& j) { j["segment"]["cipher"] = "cipher_null-ecb"; },
                      "segment.cipher"},
        BadRecordCase{"KeySizeForMode", [](json& j) { j["segment"]["key_size_bits"] = 256; },
                      "segment.key_size_bits"},
        BadRecordCase{"IntegrityWithoutTagSize",
                      [](json& j) { j["integrity"]["mode"] = "hmac-sha256"; },
                      "segment.key_size_bits"},
        BadRecordCase{"OddSectorSize", [](json& j) { j["segment"]["sector_size"] = 1000; },
                      "segment.sector_size"},
        BadRecordCase{"DataOffsetInsideHeaders",
                      [](json& j) { j["segment"]["data_offset"] = 8192; }, "segment.data_offset"},
        BadRecordCase{"KeyslotsSizeDisagrees", [](json& j) { j["header"]["keyslots_size"] = 4096; },
                      "header.keyslots_size"},
        BadRecordCase{"LabelNotVolumeId", [](json& j) { j["header"]["label"] = "other"; },
                      "header.label"},
        BadRecordCase{"OtherSubsystem", [](json& j) { j["header"]["subsystem"] = "x"; },
                      "header.subsystem"},
        BadRecordCase{"Argon2", [](json& j) { j["keyslot"]["kdf"] = "argon2id"; }, "keyslot.kdf"},
        BadRecordCase{"TooFewIterations", [](json& j) { j["keyslot"]["iterations"] = 10; },
                      "keyslot.iterations"},
        BadRecordCase{"DigestHash", [](json& j) { j["digest"]["hash"] = "sha1"; }, "digest.hash"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(VolumeRecordJson, RefusesMalformedAndDuplicateKeys) {
  EXPECT_FALSE(ParseVolumeRecord("{").ok());
  EXPECT_FALSE(ParseVolumeRecord("[]").ok());
  auto record = DefaultRecord("pvc-1", IntegrityMode::kNone);
  ASSERT_TRUE(record.ok());
  std::string text = SerializeVolumeRecord(*record);
  // A second "state" key: a parser that keeps the last one would read "formatted".
  text.insert(text.find('{') + 1, "\"state\": \"formatted\",");
  auto parsed = ParseVolumeRecord(text);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("duplicate key \"state\""));
}

}  // namespace
}  // namespace cloak::crypt
