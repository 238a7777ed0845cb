// `cloakctl header verify` as a process on real image files (integration: root, no
// device-mapper), plus its exit-code contract.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "crypt/block_devices_impl.h"
#include "crypt/cryptsetup_impl.h"
#include "crypt/device_mapper_impl.h"
#include "crypt/engine.h"
#include "tests/crypt/image_fixture.h"
#include "tests/crypt/luks2_header_editor.h"

namespace cloak::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

Result Cloakctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CLOAKCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  Result result;
  auto code = crypt::testing::RunProcess(argv, &result.out, &result.err);
  EXPECT_TRUE(code.ok()) << code.status();
  result.exit_code = code.ok() ? *code : -1;
  return result;
}

class CloakctlHeaderVerify : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypt::testing::SkipUnlessRoot(); }

  void SetUp() override {
    auto cryptsetup = crypt::NewLibCryptsetup();
    auto dm = crypt::NewLibDeviceMapper();
    auto devices = crypt::NewSystemBlockDevices();
    crypt::Engine engine(*cryptsetup, *dm, *devices);
    crypt::VolumeRecord record = *crypt::DefaultRecord("pvc-cli-1", crypt::IntegrityMode::kNone);
    image_ = dir_.SparseFile("v.img", 24ull << 20);
    SecretBytes key(64);
    for (std::size_t i = 0; i < key.size(); ++i)
      key.MutableSecretData()[i] = static_cast<std::uint8_t>(0xa5 ^ i);
    ASSERT_TRUE(engine.Format(image_, record, key, crypt::DeviceClaim::kUnknown).ok());
    record.state = crypt::VolumeState::kFormatted;
    record_path_ = WriteRecord("record.json", crypt::SerializeVolumeRecord(record));
  }

  std::string WriteRecord(const std::string& name, const std::string& text) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  crypt::testing::TempDir dir_;
  std::string image_;
  std::string record_path_;
};

TEST_F(CloakctlHeaderVerify, MatchingImageExitsZeroWithASummary) {
  Result r = Cloakctl({"header", "verify", "--device", image_, "--record", record_path_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("OK " + image_ + ": LUKS2 volume pvc-cli-1, aes-xts-plain64"));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
}

TEST_F(CloakctlHeaderVerify, TamperedImageExitsOneNamingTheField) {
  ASSERT_TRUE(crypt::testing::EditLuks2Json(image_, [](nlohmann::json& j) {
                j["segments"]["0"]["encryption"] = "cipher_null-ecb";
              }).ok());
  Result r = Cloakctl({"header", "verify", "--device", image_, "--record", record_path_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err,
              HasSubstr("segments.0.encryption: \"cipher_null-ecb\" != \"aes-xts-plain64\""));
  EXPECT_EQ(r.out, "");
}

TEST_F(CloakctlHeaderVerify, ExtraKeyslotExitsOne) {
  ASSERT_TRUE(crypt::testing::EditLuks2Json(image_, [](nlohmann::json& j) {
                j["tokens"]["0"] = {{"type", "luks2-keyring"},
                                    {"keyslots", nlohmann::json::array({"0"})},
                                    {"key_description", "x"}};
              }).ok());
  Result r = Cloakctl({"header", "verify", "--device", image_, "--record", record_path_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tokens:"));
}

TEST_F(CloakctlHeaderVerify, ImageWithoutHeaderExitsOne) {
  const std::string blank = dir_.SparseFile("blank.img", 24ull << 20);
  Result r = Cloakctl({"header", "verify", "--device", blank, "--record", record_path_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no LUKS2 header"));
}

TEST_F(CloakctlHeaderVerify, AnotherVolumesRecordExitsOne) {
  crypt::VolumeRecord other = *crypt::DefaultRecord("pvc-cli-2", crypt::IntegrityMode::kNone);
  const std::string path = WriteRecord("other.json", crypt::SerializeVolumeRecord(other));
  Result r = Cloakctl({"header", "verify", "--device", image_, "--record", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("luks2.label"));
}

TEST_F(CloakctlHeaderVerify, UsageErrorsExitTwo) {
  EXPECT_EQ(Cloakctl({}).exit_code, 2);
  EXPECT_EQ(Cloakctl({"header"}).exit_code, 2);
  EXPECT_EQ(Cloakctl({"header", "verify", "--device", image_}).exit_code, 2);
  EXPECT_EQ(
      Cloakctl({"header", "verify", "--device", image_, "--record", "/nonexistent"}).exit_code, 2);
  const std::string bad = WriteRecord("bad.json", "{\"version\": 1}");
  Result r = Cloakctl({"header", "verify", "--device", image_, "--record", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("volume record"));
  EXPECT_EQ(Cloakctl({"--help"}).exit_code, 0);
}

}  // namespace
}  // namespace cloak::cli
