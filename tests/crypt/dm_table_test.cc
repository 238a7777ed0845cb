#include "crypt/dm_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cloak::crypt {
namespace {

using ::testing::StartsWith;

constexpr std::uint64_t kDeviceBytes = 1ull << 30;  // 1 GiB
constexpr DeviceNumber kDisk{254, 16};
constexpr DeviceNumber kDif{253, 3};

VolumeRecord Record(IntegrityMode mode) { return *DefaultRecord("pvc-1", mode); }

std::vector<DmTarget> PlainTable(std::string params) {
  return {{0, kDeviceBytes / 512 - 32768, "crypt", std::move(params)}};
}

constexpr const char* kPlainParams =
    "aes-xts-plain64 :64:logon:cryptsetup:1c8e-d0 0 254:16 32768 3 no_read_workqueue "
    "no_write_workqueue sector_size:4096";

TEST(CryptTable, AcceptsWhatWasAskedFor) {
  const ExpectedMapping e =
      ExpectedMappingFor(Record(IntegrityMode::kNone), kDisk, kDeviceBytes, {}, false, true);
  EXPECT_TRUE(VerifyCryptTable(PlainTable(kPlainParams), e).ok())
      << VerifyCryptTable(PlainTable(kPlainParams), e);
}

struct TableCase {
  std::string name;
  std::string params;
  std::string field;
};

class CryptTableMismatch : public ::testing::TestWithParam<TableCase> {};

TEST_P(CryptTableMismatch, IsRefusedNamingTheField) {
  const ExpectedMapping e =
      ExpectedMappingFor(Record(IntegrityMode::kNone), kDisk, kDeviceBytes, {}, false, true);
  absl::Status status = VerifyCryptTable(PlainTable(GetParam().params), e);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), StartsWith("live table: " + GetParam().field + ":"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, CryptTableMismatch,
    ::testing::Values(
        TableCase{"CipherNull",
                  "cipher_null-ecb - 0 254:16 32768 3 no_read_workqueue no_write_workqueue "
                  "sector_size:4096",
                  "crypt.cipher"},
        TableCase{"HexKey",
                  "aes-xts-plain64 <hex:64> 0 254:16 32768 3 no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.key"},
        TableCase{"ShortKey",
                  "aes-xts-plain64 :32:logon:cryptsetup:x 0 254:16 32768 3 no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.key"},
        TableCase{"IvOffset",
                  "aes-xts-plain64 :64:logon:x 8 254:16 32768 3 no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.iv_offset"},
        TableCase{"OtherDevice",
                  "aes-xts-plain64 :64:logon:x 0 7:0 32768 3 no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.device"},
        TableCase{"Offset",
                  "aes-xts-plain64 :64:logon:x 0 254:16 0 3 no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.offset"},
        TableCase{"SectorSize",
                  "aes-xts-plain64 :64:logon:x 0 254:16 32768 3 no_read_workqueue "
                  "no_write_workqueue sector_size:512",
                  "crypt.options"},
        TableCase{"WorkqueuesUsed", "aes-xts-plain64 :64:logon:x 0 254:16 32768 1 sector_size:4096",
                  "crypt.options"},
        TableCase{"DiscardsNotAsked",
                  "aes-xts-plain64 :64:logon:x 0 254:16 32768 4 allow_discards no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.options"},
        TableCase{"OptionCountLies",
                  "aes-xts-plain64 :64:logon:x 0 254:16 32768 2 no_read_workqueue "
                  "no_write_workqueue sector_size:4096",
                  "crypt.options"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(CryptTable, RefusesExtraTargetsAndWrongLength) {
  const ExpectedMapping e =
      ExpectedMappingFor(Record(IntegrityMode::kNone), kDisk, kDeviceBytes, {}, false, true);
  auto two = PlainTable(kPlainParams);
  two.push_back(two[0]);
  EXPECT_EQ(VerifyCryptTable(two, e).code(), absl::StatusCode::kFailedPrecondition);
  auto longer = PlainTable(kPlainParams);
  longer[0].length += 8;
  EXPECT_THAT(std::string(VerifyCryptTable(longer, e).message()),
              StartsWith("live table: crypt.length:"));
  auto linear = PlainTable(kPlainParams);
  linear[0].type = "linear";
  EXPECT_THAT(std::string(VerifyCryptTable(linear, e).message()),
              StartsWith("live table: crypt.type:"));
}

TEST(CryptTable, AcceptsDiscardsWhenAsked) {
  const ExpectedMapping e =
      ExpectedMappingFor(Record(IntegrityMode::kNone), kDisk, kDeviceBytes, {}, true, true);
  EXPECT_TRUE(VerifyCryptTable(PlainTable("aes-xts-plain64 :64:logon:x 0 254:16 32768 4 "
                                          "allow_discards no_read_workqueue no_write_workqueue "
                                          "sector_size:4096"),
                               e)
                  .ok());
  EXPECT_FALSE(VerifyCryptTable(PlainTable(kPlainParams), e).ok());
}

TEST(IntegrityTables, AcceptHmacStack) {
  const ExpectedMapping e = ExpectedMappingFor(Record(IntegrityMode::kHmacSha256), kDisk,
                                               kDeviceBytes, kDif, false, true);
  const std::vector<DmTarget> integrity = {
      {0, 1900000, "integrity",
       "254:16 32768 32 J 6 block_size:4096 journal_sectors:16384 interleave_sectors:32768 "
       "buffer_sectors:128 journal_watermark:50 commit_time:10000"}};
  const std::vector<DmTarget> crypt = {
      {0, 1900000, "crypt",
       "capi:authenc(hmac(sha256),xts(aes))-plain64 :96:logon:cryptsetup:1-d0 0 253:3 0 4 "
       "no_read_workqueue no_write_workqueue integrity:32:aead sector_size:4096"}};
  EXPECT_TRUE(VerifyIntegrityTable(integrity, e).ok()) << VerifyIntegrityTable(integrity, e);
  EXPECT_TRUE(VerifyCryptTable(crypt, e, 1900000).ok()) << VerifyCryptTable(crypt, e, 1900000);
  EXPECT_THAT(std::string(VerifyCryptTable(crypt, e, 1800000).message()),
              StartsWith("live table: crypt.length:"));
}

TEST(IntegrityTables, RefuseTagsComputedByDmIntegrityOrOtherLayouts) {
  const ExpectedMapping e =
      ExpectedMappingFor(Record(IntegrityMode::kAead), kDisk, kDeviceBytes, kDif, false, true);
  auto check = [&](std::string params) {
    return std::string(
        VerifyIntegrityTable({{0, 1000, "integrity", std::move(params)}}, e).message());
  };
  EXPECT_EQ(check("254:16 32768 28 J 1 block_size:4096"), "");
  EXPECT_THAT(check("254:16 32768 28 J 2 block_size:4096 internal_hash:crc32c"),
              StartsWith("live table: integrity.options:"));
  EXPECT_THAT(check("254:16 32768 16 J 1 block_size:4096"),
              StartsWith("live table: integrity.tag_size:"));
  EXPECT_THAT(check("254:16 0 28 J 1 block_size:4096"),
              StartsWith("live table: integrity.offset:"));
  EXPECT_THAT(check("254:17 32768 28 J 1 block_size:4096"),
              StartsWith("live table: integrity.device:"));
  EXPECT_THAT(check("254:16 32768 28 D 1 block_size:4096"),
              StartsWith("live table: integrity.mode:"));
  EXPECT_THAT(check("254:16 32768 28 J 0"), StartsWith("live table: integrity.block_size:"));
}

TEST(IntegrityStatus, ParsesMismatchCounter) {
  auto counters = ParseIntegrityStatus("3 2097152 -");
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ(counters->mismatches, 3u);
  EXPECT_EQ(counters->provided_data_sectors, 2097152u);
  EXPECT_FALSE(ParseIntegrityStatus("x y").ok());
}

TEST(RedactCryptKey, KeepsKeyringReferencesAndHidesHexKeys) {
  EXPECT_EQ(RedactCryptKey("aes-xts-plain64 :64:logon:cryptsetup:u-d0 0 7:0 32768"),
            "aes-xts-plain64 :64:logon:cryptsetup:u-d0 0 7:0 32768");
  EXPECT_EQ(RedactCryptKey("aes-xts-plain64 00112233445566778899aabbccddeeff 0 7:0 32768"),
            "aes-xts-plain64 <hex:16> 0 7:0 32768");
  EXPECT_EQ(RedactCryptKey("cipher_null-ecb - 0 7:0 0"), "cipher_null-ecb - 0 7:0 0");
}

}  // namespace
}  // namespace cloak::crypt
