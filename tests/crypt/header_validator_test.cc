#include "crypt/header_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/crypt/header_tampers.h"

namespace cloak::crypt {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A header written by cryptsetup 2.6.1 on this project's build image with the DESIGN §5
// parameters (integrity none); the integrity variants are derived from it.
json PlainHeader() {
  std::ifstream in(std::string(CLOAK_CRYPT_TESTDATA_DIR) + "/luks2_plain_header.json");
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

VolumeRecord Record(IntegrityMode mode) {
  auto record = DefaultRecord("pvc-3f2a", mode);
  EXPECT_TRUE(record.ok());
  return *record;
}

json HeaderFor(IntegrityMode mode) {
  json j = PlainHeader();
  const VolumeRecord r = Record(mode);
  j["segments"]["0"]["encryption"] = r.cipher;
  j["keyslots"]["0"]["key_size"] = r.volume_key_bytes();
  const std::uint64_t area = (r.volume_key_bytes() * 4000 + 4095) / 4096 * 4096;
  j["keyslots"]["0"]["area"]["size"] = std::to_string(area);
  if (mode != IntegrityMode::kNone) {
    j["segments"]["0"]["integrity"] = {{"type", std::string(LuksIntegrityName(mode))},
                                       {"journal_encryption", "none"},
                                       {"journal_integrity", "none"}};
  }
  return j;
}

HeaderFacts FactsFor(const VolumeRecord& r) {
  HeaderFacts f;
  f.type = "LUKS2";
  f.label = r.label;
  f.subsystem = r.subsystem;
  f.metadata_size = r.metadata_size_bytes;
  f.keyslots_size = r.keyslots_size_bytes;
  f.cipher = r.cipher.substr(0, r.cipher.find('-'));
  f.cipher_mode = r.cipher.substr(r.cipher.find('-') + 1);
  f.volume_key_bytes = r.volume_key_bytes();
  f.sector_size = r.sector_size;
  f.data_offset_sectors = r.data_offset_sectors();
  f.integrity = std::string(LuksIntegrityName(r.integrity));
  f.integrity_tag_size = r.integrity_tag_size_bytes;
  return f;
}

const IntegrityMode kModes[] = {IntegrityMode::kNone, IntegrityMode::kHmacSha256,
                                IntegrityMode::kAead};

TEST(HeaderValidator, AcceptsTheHeaderEachModeWrites) {
  for (IntegrityMode mode : kModes) {
    const VolumeRecord record = Record(mode);
    EXPECT_TRUE(ValidateLuks2Header(HeaderFor(mode).dump(), FactsFor(record), record).ok())
        << IntegrityModeName(mode) << ": "
        << ValidateLuks2Header(HeaderFor(mode).dump(), FactsFor(record), record);
  }
}

TEST(HeaderValidator, RefusesAHeaderOfAnotherMode) {
  const VolumeRecord record = Record(IntegrityMode::kHmacSha256);
  absl::Status status =
      ValidateLuks2Header(HeaderFor(IntegrityMode::kNone).dump(), FactsFor(record), record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), StartsWith("segments.0.integrity: missing"));
}

struct TamperCase {
  IntegrityMode mode;
  testing::HeaderTamper tamper;
};

std::vector<TamperCase> AllTampers() {
  std::vector<TamperCase> cases;
  for (IntegrityMode mode : kModes) {
    for (auto& tamper : testing::HeaderTampers(mode)) cases.push_back({mode, tamper});
  }
  return cases;
}

class HeaderTamperTest : public ::testing::TestWithParam<TamperCase> {};

TEST_P(HeaderTamperTest, IsRefusedNamingTheField) {
  const VolumeRecord record = Record(GetParam().mode);
  json header = HeaderFor(GetParam().mode);
  GetParam().tamper.apply(header);
  absl::Status status = ValidateLuks2Header(header.dump(), FactsFor(record), record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), StartsWith(GetParam().tamper.field + ":"));
}

INSTANTIATE_TEST_SUITE_P(Matrix, HeaderTamperTest, ::testing::ValuesIn(AllTampers()),
                         [](const auto& test_info) {
                           std::string mode(IntegrityModeName(test_info.param.mode));
                           std::erase(mode, '-');
                           return mode + "_" + test_info.param.tamper.name;
                         });

// Edits that libcryptsetup itself would refuse to load, or that need the raw text.
struct JsonCase {
  std::string name;
  std::function<void(json&)> edit;
  std::string field;
};

class HeaderJsonTest : public ::testing::TestWithParam<JsonCase> {};

TEST_P(HeaderJsonTest, IsRefusedNamingTheField) {
  const VolumeRecord record = Record(IntegrityMode::kNone);
  json header = HeaderFor(IntegrityMode::kNone);
  GetParam().edit(header);
  absl::Status status = ValidateLuks2Header(header.dump(), FactsFor(record), record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), StartsWith(GetParam().field + ":"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, HeaderJsonTest,
    ::testing::Values(
        JsonCase{"UnknownTopLevel", [](json& j) { j["cloak"] = 1; }, "cloak"},
        JsonCase{"NoTokensObject", [](json& j) { j.erase("tokens"); }, "tokens"},
        JsonCase{"JsonSize", [](json& j) { j["config"]["json_size"] = "4096"; },
                 "config.json_size"},
        JsonCase{"KeyslotsSize", [](json& j) { j["config"]["keyslots_size"] = "4096"; },
                 "config.keyslots_size"},
        JsonCase{"OffsetNotDecimal", [](json& j) { j["segments"]["0"]["offset"] = "0x1000000"; },
                 "segments.0.offset"},
        JsonCase{"OffsetAsNumber", [](json& j) { j["segments"]["0"]["offset"] = 16777216; },
                 "segments.0.offset"},
        JsonCase{"SegmentNotCrypt", [](json& j) { j["segments"]["0"]["type"] = "linear"; },
                 "segments.0.type"},
        JsonCase{"SegmentIdOne",
                 [](json& j) {
                   j["segments"]["1"] = j["segments"]["0"];
                   j["segments"].erase("0");
                 },
                 "segments"},
        JsonCase{"CipherNullPlain",
                 [](json& j) { j["segments"]["0"]["encryption"] = "cipher_null"; },
                 "segments.0.encryption"},
        JsonCase{"KeyslotAreaOutside",
                 [](json& j) { j["keyslots"]["0"]["area"]["offset"] = "16777216"; },
                 "keyslots.0.area.offset"},
        JsonCase{"KeyslotAreaTooSmall",
                 [](json& j) { j["keyslots"]["0"]["area"]["size"] = "4096"; },
                 "keyslots.0.area.size"},
        JsonCase{"KeyslotAreaKeySize", [](json& j) { j["keyslots"]["0"]["area"]["key_size"] = 32; },
                 "keyslots.0.area.key_size"},
        JsonCase{"KeyslotKeySize", [](json& j) { j["keyslots"]["0"]["key_size"] = 32; },
                 "keyslots.0.key_size"},
        JsonCase{"KeyslotSaltNotBase64",
                 [](json& j) { j["keyslots"]["0"]["kdf"]["salt"] = "not base64!"; },
                 "keyslots.0.kdf.salt"},
        JsonCase{"DigestOfOtherKeyslot",
                 [](json& j) { j["digests"]["0"]["keyslots"] = json::array({"1"}); },
                 "digests.0.keyslots"},
        JsonCase{"DigestOfOtherSegment",
                 [](json& j) { j["digests"]["0"]["segments"] = json::array({"1"}); },
                 "digests.0.segments"},
        JsonCase{"DigestTruncated", [](json& j) { j["digests"]["0"]["digest"] = "AAAA"; },
                 "digests.0.digest"},
        JsonCase{"TwoDigests", [](json& j) { j["digests"]["1"] = j["digests"]["0"]; }, "digests"},
        JsonCase{"NoJournalFlag",
                 [](json& j) { j["config"]["flags"] = json::array({"no-journal"}); },
                 "config.flags"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(HeaderValidator, AcceptsAnEmptyFlagsList) {
  const VolumeRecord record = Record(IntegrityMode::kNone);
  json header = HeaderFor(IntegrityMode::kNone);
  header["config"]["flags"] = json::array();
  EXPECT_TRUE(ValidateLuks2Header(header.dump(), FactsFor(record), record).ok());
}

TEST(HeaderValidator, RefusesTextThatIsNotStrictJson) {
  const VolumeRecord record = Record(IntegrityMode::kNone);
  const HeaderFacts facts = FactsFor(record);
  EXPECT_EQ(ValidateLuks2Header("{", facts, record).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ValidateLuks2Header("[]", facts, record).code(), absl::StatusCode::kFailedPrecondition);
  // A duplicate segment key: two JSON readers could disagree on which one counts.
  std::string text = HeaderFor(IntegrityMode::kNone).dump();
  text.insert(text.find("\"segments\":{") + 12,
              "\"0\":{\"type\":\"crypt\",\"encryption\":\"cipher_null-ecb\"},");
  absl::Status status = ValidateLuks2Header(text, facts, record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("duplicate key"));
}

struct FactsCase {
  std::string name;
  std::function<void(HeaderFacts&)> edit;
  std::string field;
};

class HeaderFactsTest : public ::testing::TestWithParam<FactsCase> {};

TEST_P(HeaderFactsTest, IsRefusedNamingTheFact) {
  const VolumeRecord record = Record(IntegrityMode::kHmacSha256);
  HeaderFacts facts = FactsFor(record);
  GetParam().edit(facts);
  absl::Status status =
      ValidateLuks2Header(HeaderFor(IntegrityMode::kHmacSha256).dump(), facts, record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), StartsWith(GetParam().field + ":"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, HeaderFactsTest,
    ::testing::Values(
        FactsCase{"Luks1", [](HeaderFacts& f) { f.type = "LUKS1"; }, "luks2.type"},
        FactsCase{"Label", [](HeaderFacts& f) { f.label = "pvc-other"; }, "luks2.label"},
        FactsCase{"Subsystem", [](HeaderFacts& f) { f.subsystem = ""; }, "luks2.subsystem"},
        FactsCase{"MetadataSize", [](HeaderFacts& f) { f.metadata_size = 32768; },
                  "luks2.metadata_size"},
        FactsCase{"Cipher", [](HeaderFacts& f) { f.cipher = "cipher_null"; }, "luks2.cipher"},
        FactsCase{"VolumeKeySize", [](HeaderFacts& f) { f.volume_key_bytes = 64; },
                  "luks2.volume_key_size"},
        FactsCase{"SectorSize", [](HeaderFacts& f) { f.sector_size = 512; }, "luks2.sector_size"},
        FactsCase{"DataOffset", [](HeaderFacts& f) { f.data_offset_sectors = 4096; },
                  "luks2.data_offset"},
        FactsCase{"Integrity", [](HeaderFacts& f) { f.integrity = ""; }, "luks2.integrity"},
        FactsCase{"TagSize", [](HeaderFacts& f) { f.integrity_tag_size = 16; },
                  "luks2.integrity_tag_size"},
        FactsCase{"PersistentFlags", [](HeaderFacts& f) { f.persistent_flags = 8; },
                  "luks2.persistent_flags"},
        FactsCase{"Requirements", [](HeaderFacts& f) { f.requirement_flags = 1u << 31; },
                  "luks2.requirement_flags"}),
    [](const auto& test_info) { return test_info.param.name; });

}  // namespace
}  // namespace cloak::crypt
