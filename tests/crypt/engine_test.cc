#include "crypt/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypt/keyslot_passphrase.h"
#include "nlohmann/json.hpp"
#include "tests/crypt/fake_block_devices.h"
#include "tests/crypt/fake_cryptsetup.h"
#include "tests/crypt/fake_device_mapper.h"

namespace cloak::crypt {
namespace {

using ::testing::Contains;
using testing::FakeBlockDevices;
using testing::FakeCryptsetup;
using testing::FakeDeviceMapper;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kDisk = "/dev/vdb";
constexpr std::uint64_t kDiskBytes = 1ull << 30;

SecretBytes Key(std::size_t size, std::uint8_t seed = 1) {
  SecretBytes key(size);
  for (std::size_t i = 0; i < size; ++i) {
    key.MutableSecretData()[i] = static_cast<std::uint8_t>(seed + i);
  }
  return key;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : cryptsetup_(dm_, devices_), engine_(cryptsetup_, dm_, devices_) {
    devices_.Add(kDisk, {254, 16}, kDiskBytes);
  }

  VolumeRecord Record(IntegrityMode mode = IntegrityMode::kNone) {
    return *DefaultRecord("pvc-7", mode);
  }

  // Formats kDisk for `mode` and returns the formatted record.
  VolumeRecord Formatted(IntegrityMode mode = IntegrityMode::kNone) {
    VolumeRecord record = Record(mode);
    absl::Status status =
        engine_.Format(kDisk, record, Key(record.volume_key_bytes()), DeviceClaim::kUnknown);
    EXPECT_TRUE(status.ok()) << status;
    record.state = VolumeState::kFormatted;
    return record;
  }

  void EditHeader(const std::function<void(nlohmann::json&)>& edit) {
    std::string& text = cryptsetup_.volumes.at(kDisk).header.metadata_json;
    nlohmann::json j = nlohmann::json::parse(text);
    edit(j);
    text = j.dump();
  }

  FakeDeviceMapper dm_;
  FakeBlockDevices devices_;
  FakeCryptsetup cryptsetup_;
  Engine engine_;
};

TEST_F(EngineTest, FormatWritesAHeaderThatValidates) {
  const VolumeRecord record = Formatted();
  EXPECT_TRUE(engine_.Validate(kDisk, record, nullptr).ok());
  const SecretBytes key = Key(64);
  EXPECT_TRUE(engine_.Validate(kDisk, record, &key).ok());
  // The keyslot passphrase is derived from the DEK, not the DEK itself.
  auto passphrase = DeriveKeyslotPassphrase(key, "pvc-7");
  ASSERT_TRUE(passphrase.ok());
  EXPECT_TRUE(cryptsetup_.volumes.at(kDisk).passphrase == *passphrase);
}

TEST_F(EngineTest, FormatRefusesARecordAlreadyFormatted) {
  VolumeRecord record = Record();
  record.state = VolumeState::kFormatted;
  absl::Status status = engine_.Format(kDisk, record, Key(64), DeviceClaim::kNewAndEmpty);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cryptsetup_.calls, Not(Contains("Format /dev/vdb")));
}

TEST_F(EngineTest, FormatRefusesADeviceWithASignatureUnlessNewAndEmpty) {
  devices_.at(kDisk).signatures = {"ext4"};
  absl::Status status = engine_.Format(kDisk, Record(), Key(64), DeviceClaim::kUnknown);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("[ext4]"));
  EXPECT_TRUE(cryptsetup_.volumes.empty());
  EXPECT_TRUE(engine_.Format(kDisk, Record(), Key(64), DeviceClaim::kNewAndEmpty).ok());
}

TEST_F(EngineTest, FormatNeverOverwritesALuksHeader) {
  Formatted();
  absl::Status status = engine_.Format(kDisk, Record(), Key(64, 9), DeviceClaim::kNewAndEmpty);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("already carries a LUKS header"));
  // A header libcryptsetup cannot load, or one only blkid sees, counts too.
  cryptsetup_.volumes.clear();
  cryptsetup_.unreadable[kDisk] = absl::FailedPreconditionError("bad checksum");
  EXPECT_FALSE(engine_.Format(kDisk, Record(), Key(64), DeviceClaim::kNewAndEmpty).ok());
  cryptsetup_.unreadable.clear();
  devices_.at(kDisk).signatures = {"crypto_LUKS"};
  EXPECT_FALSE(engine_.Format(kDisk, Record(), Key(64), DeviceClaim::kNewAndEmpty).ok());
  EXPECT_TRUE(cryptsetup_.volumes.empty());
}

TEST_F(EngineTest, FormatRefusesAKeyOfTheWrongSize) {
  EXPECT_EQ(engine_.Format(kDisk, Record(), Key(32), DeviceClaim::kUnknown).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, ValidateReportsMissingHeaderTamperAndWrongKey) {
  EXPECT_EQ(engine_.Validate(kDisk, Record(), nullptr).code(), absl::StatusCode::kNotFound);
  const VolumeRecord record = Formatted();
  const SecretBytes other = Key(64, 42);
  EXPECT_EQ(engine_.Validate(kDisk, record, &other).code(), absl::StatusCode::kPermissionDenied);
  EditHeader([](nlohmann::json& j) { j["segments"]["0"]["encryption"] = "cipher_null-ecb"; });
  absl::Status status = engine_.Validate(kDisk, record, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("segments.0.encryption: \"cipher_null-ecb\" != \"aes-xts-plain64\""));
  EXPECT_THAT(std::string(status.message()), HasSubstr("volume pvc-7 on /dev/vdb"));
}

TEST_F(EngineTest, OpenActivatesAndVerifiesEveryMode) {
  for (IntegrityMode mode :
       {IntegrityMode::kNone, IntegrityMode::kHmacSha256, IntegrityMode::kAead}) {
    cryptsetup_.volumes.clear();
    const VolumeRecord record = Formatted(mode);
    auto opened = engine_.Open(kDisk, "vol", record, Key(record.volume_key_bytes()), {});
    ASSERT_TRUE(opened.ok()) << IntegrityModeName(mode) << ": " << opened.status();
    EXPECT_EQ(opened->mapper_path, "/dev/mapper/vol");
    EXPECT_FALSE(opened->adopted);
    EXPECT_TRUE(dm_.Has("vol"));
    EXPECT_EQ(dm_.Has("vol_dif"), mode != IntegrityMode::kNone);
    ASSERT_TRUE(engine_.Close("vol").ok());
    EXPECT_EQ(dm_.size(), 0u);
  }
}

TEST_F(EngineTest, OpenRefusesATamperedHeaderBeforeActivation) {
  const VolumeRecord record = Formatted();
  EditHeader([](nlohmann::json& j) { j["tokens"]["0"] = {{"type", "luks2-keyring"}}; });
  auto opened = engine_.Open(kDisk, "vol", record, Key(64), {});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("tokens:"));
  EXPECT_EQ(dm_.size(), 0u);
}

TEST_F(EngineTest, OpenRefusesAWrongKeyAndLeavesNoMapping) {
  const VolumeRecord record = Formatted();
  auto opened = engine_.Open(kDisk, "vol", record, Key(64, 77), {});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(dm_.size(), 0u);
}

TEST_F(EngineTest, OpenTearsDownWhenTheKernelTableDiffers) {
  const VolumeRecord record = Formatted();
  cryptsetup_.after_activate = [this](const std::string& name) {
    std::string& params = dm_.Find(name)->table[0].params;
    params.replace(0, params.find(' '), "cipher_null-ecb");
  };
  auto opened = engine_.Open(kDisk, "vol", record, Key(64), {});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("crypt.cipher"));
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("the mapping was removed"));
  EXPECT_FALSE(dm_.Has("vol"));
  EXPECT_THAT(cryptsetup_.calls, Contains("Deactivate vol"));
}

TEST_F(EngineTest, OpenTearsDownBothMappingsWhenTheIntegrityTableDiffers) {
  const VolumeRecord record = Formatted(IntegrityMode::kHmacSha256);
  cryptsetup_.after_activate = [this](const std::string& name) {
    dm_.Find(name + "_dif")->table[0].params += " internal_hash:crc32c";
  };
  auto opened = engine_.Open(kDisk, "vol", record, Key(96), {});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(dm_.size(), 0u);
}

TEST_F(EngineTest, OpenAgainAdoptsAMatchingMapping) {
  const VolumeRecord record = Formatted();
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(64), {}).ok());
  cryptsetup_.calls.clear();
  auto again = engine_.Open(kDisk, "vol", record, Key(64), {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->adopted);
  EXPECT_THAT(cryptsetup_.calls, Not(Contains("Activate /dev/vdb vol")));
}

TEST_F(EngineTest, OpenAgainRefusesAMismatchingMappingAndLeavesIt) {
  const VolumeRecord record = Formatted();
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(64), {}).ok());
  // The same name now maps something else (say, opened by hand with discards).
  auto again = engine_.Open(kDisk, "vol", record, Key(64), OpenOptions{.allow_discards = true});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("already exists"));
  EXPECT_TRUE(dm_.Has("vol"));
}

TEST_F(EngineTest, OpenRemovesAnUnusedLeftoverIntegrityMapping) {
  const VolumeRecord record = Formatted(IntegrityMode::kAead);
  dm_.Add("vol_dif", {});
  auto opened = engine_.Open(kDisk, "vol", record, Key(32), {});
  EXPECT_TRUE(opened.ok()) << opened.status();
}

TEST_F(EngineTest, OpenRefusesDiscardsWithIntegrityAndBadNames) {
  const VolumeRecord record = Formatted(IntegrityMode::kHmacSha256);
  EXPECT_EQ(engine_.Open(kDisk, "vol", record, Key(96), {.allow_discards = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_.Open(kDisk, "../x", record, Key(96), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dm_.size(), 0u);
}

TEST_F(EngineTest, CloseIsIdempotentAndReportsBusy) {
  EXPECT_TRUE(engine_.Close("vol").ok());
  const VolumeRecord record = Formatted();
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(64), {}).ok());
  dm_.Find("vol")->info.open_count = 1;
  EXPECT_EQ(engine_.Close("vol").code(), absl::StatusCode::kUnavailable);
  dm_.Find("vol")->info.open_count = 0;
  EXPECT_TRUE(engine_.Close("vol").ok());
  EXPECT_TRUE(engine_.Close("vol").ok());
}

TEST_F(EngineTest, StatusReportsSizesAndIntegrityMismatches) {
  const VolumeRecord record = Formatted(IntegrityMode::kHmacSha256);
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(96), {}).ok());
  dm_.Find("vol_dif")->status[0].params = "5 1000 -";
  auto status = engine_.Status("vol");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->integrity);
  EXPECT_EQ(status->integrity_mismatches, 5u);
  EXPECT_EQ(status->backing_device, (DeviceNumber{254, 16}));
  EXPECT_EQ(status->size_bytes, dm_.Find("vol")->table[0].length * 512);
  EXPECT_EQ(engine_.Status("gone").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, ResizeGrowsAPlainVolumeToTheDevice) {
  const VolumeRecord record = Formatted();
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(64), {}).ok());
  devices_.at(kDisk).size = 2 * kDiskBytes;
  // Before the resize the mapping is shorter than the device: a verification fails...
  EXPECT_THAT(std::string(engine_.VerifyMapping(kDisk, "vol", record, {}).message()),
              HasSubstr("crypt.length"));
  // ...and the resize grows it so that it passes.
  absl::Status resized = engine_.Resize(kDisk, "vol", record, Key(64), {});
  ASSERT_TRUE(resized.ok()) << resized;
  EXPECT_THAT(cryptsetup_.calls, Contains("Resize vol"));
  EXPECT_EQ(dm_.Find("vol")->table[0].length, 2 * kDiskBytes / 512 - 32768);
}

TEST_F(EngineTest, ReadOnlyViewsCoverTheWholeMappingAndFollowItsSize) {
  EXPECT_EQ(engine_.OpenReadOnlyView("vol", "vol-ro").status().code(),
            absl::StatusCode::kNotFound);  // nothing to view yet
  const VolumeRecord record = Formatted();
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(64), {}).ok());
  absl::StatusOr<std::string> path = engine_.OpenReadOnlyView("vol", "vol-ro");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "/dev/mapper/vol-ro");
  const FakeDeviceMapper::Device* view = dm_.Find("vol-ro");
  ASSERT_NE(view, nullptr);
  EXPECT_TRUE(view->info.read_only);
  const std::vector<DmTarget> expected{{0, dm_.Find("vol")->table[0].length, "linear",
                                        fmt::format("253:{} 0", dm_.Find("vol")->info.minor)}};
  EXPECT_EQ(view->table, expected);
  ASSERT_TRUE(engine_.OpenReadOnlyView("vol", "vol-ro").ok());  // adopted
  EXPECT_EQ(dm_.size(), 2u);

  // The view grows with its mapping; a view of nothing is not made by a resize.
  devices_.at(kDisk).size = 2 * kDiskBytes;
  ASSERT_TRUE(engine_.Resize(kDisk, "vol", record, Key(64), {}).ok());
  ASSERT_TRUE(engine_.ResizeReadOnlyView("vol", "vol-ro").ok());
  EXPECT_EQ(dm_.Find("vol-ro")->table[0].length, dm_.Find("vol")->table[0].length);
  EXPECT_EQ(engine_.ResizeReadOnlyView("vol", "other-ro").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(dm_.Has("other-ro"));

  // A writable device, or one over another device, under the view's name is refused and
  // left as it is.
  dm_.Add("rw-ro", {{0, 8, "linear", fmt::format("253:{} 0", dm_.Find("vol")->info.minor)}});
  dm_.Add("elsewhere-ro", {{0, 8, "linear", "254:16 0"}}).info.read_only = true;
  for (const char* name : {"rw-ro", "elsewhere-ro"}) {
    absl::StatusOr<std::string> refused = engine_.OpenReadOnlyView("vol", name);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("not a read-only view of vol"));
    EXPECT_EQ(dm_.Find(name)->table[0].length, 8u);
  }
  EXPECT_EQ(engine_.OpenReadOnlyView("vol", "bad/name").status().code(),
            absl::StatusCode::kInvalidArgument);

  // Closing: busy is UNAVAILABLE, absent is OK.
  dm_.Find("vol-ro")->info.open_count = 1;
  EXPECT_EQ(engine_.CloseReadOnlyView("vol-ro").code(), absl::StatusCode::kUnavailable);
  dm_.Find("vol-ro")->info.open_count = 0;
  EXPECT_TRUE(engine_.CloseReadOnlyView("vol-ro").ok());
  EXPECT_TRUE(engine_.CloseReadOnlyView("vol-ro").ok());
  EXPECT_FALSE(dm_.Has("vol-ro"));
}

TEST_F(EngineTest, ResizeRefusesIntegrityVolumesAndTamperedHeaders) {
  const VolumeRecord integrity = Formatted(IntegrityMode::kHmacSha256);
  absl::Status refused = engine_.Resize(kDisk, "vol", integrity, Key(96), {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not supported"));

  cryptsetup_.volumes.clear();
  const VolumeRecord record = Formatted();
  ASSERT_TRUE(engine_.Open(kDisk, "vol", record, Key(64), {}).ok());
  EditHeader([](nlohmann::json& j) { j["segments"]["0"]["offset"] = "33554432"; });
  EXPECT_EQ(engine_.Resize(kDisk, "vol", record, Key(64), {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cryptsetup_.calls, Not(Contains("Resize vol")));
}

TEST_F(EngineTest, InitializeIntegrityWritesEveryByteWithProgress) {
  auto& mapper = devices_.Add("/dev/mapper/vol", {253, 1}, 10 << 20);
  auto t = std::chrono::steady_clock::time_point{};
  Engine engine(cryptsetup_, dm_, devices_, [&t] {
    t += std::chrono::milliseconds(500);
    return t;
  });
  std::vector<Progress> reports;
  IntegrityInitOptions options;
  options.chunk_bytes = 4 << 20;
  options.progress = [&](const Progress& p) { reports.push_back(p); };
  auto written = engine.InitializeIntegrity("vol", options);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 10u << 20);
  EXPECT_EQ(mapper.bytes_written, 10u << 20);
  EXPECT_TRUE(mapper.flushed);
  ASSERT_EQ(reports.size(), 3u);  // 4 + 4 + 2 MiB
  EXPECT_EQ(reports.back().bytes_done, 10u << 20);
  EXPECT_EQ(reports.back().bytes_total, 10u << 20);
  EXPECT_EQ(reports[0].bytes_done, 4u << 20);
  EXPECT_DOUBLE_EQ(reports[0].bytes_per_second, (4 << 20) / 0.5);
}

TEST_F(EngineTest, InitializeIntegrityCanCoverARange) {
  auto& mapper = devices_.Add("/dev/mapper/vol", {253, 1}, 64 << 20);
  IntegrityInitOptions options;
  options.offset = 8 << 20;
  options.length = 4 << 20;
  auto written = engine_.InitializeIntegrity("vol", options);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(mapper.lowest_write, 8u << 20);
  EXPECT_EQ(mapper.highest_write_end, 12u << 20);
  options.offset = 4095;
  EXPECT_EQ(engine_.InitializeIntegrity("vol", options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, InitializeIntegrityReportsWriteErrors) {
  devices_.Add("/dev/mapper/vol", {253, 1}, 8 << 20).fail_writes = true;
  auto written = engine_.InitializeIntegrity("vol", {});
  EXPECT_EQ(written.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(written.status().message()), HasSubstr("/dev/mapper/vol at byte 0"));
}

}  // namespace
}  // namespace cloak::crypt
