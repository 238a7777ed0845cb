// Host integration tests: the real libcryptsetup on sparse image files (no
// device-mapper needed). Needs root; exits 77 (skipped) otherwise.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "crypt/block_devices_impl.h"
#include "crypt/cryptsetup_impl.h"
#include "crypt/device_mapper_impl.h"
#include "crypt/engine.h"
#include "crypt/keyslot_passphrase.h"
#include "tests/crypt/header_tampers.h"
#include "tests/crypt/image_fixture.h"
#include "tests/crypt/luks2_header_editor.h"

namespace cloak::crypt {
namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kImageBytes = 24ull << 20;  // 16 MiB header area + 8 MiB data

SecretBytes RandomKey(std::size_t size) {
  SecretBytes key(size);
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(read(fd, key.MutableSecretData(), size), static_cast<ssize_t>(size));
  close(fd);
  return key;
}

class CryptImageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::SkipUnlessRoot(); }

  CryptImageTest()
      : cryptsetup_(NewLibCryptsetup()),
        device_mapper_(NewLibDeviceMapper()),
        devices_(NewSystemBlockDevices()),
        engine_(*cryptsetup_, *device_mapper_, *devices_),
        record_(*DefaultRecord("pvc-host-1", IntegrityMode::kNone)),
        key_(RandomKey(64)) {}

  // A freshly formatted image for record_ and key_.
  std::string FormattedImage(const std::string& name) {
    const std::string image = dir_.SparseFile(name, kImageBytes);
    absl::Status status = engine_.Format(image, record_, key_, DeviceClaim::kUnknown);
    EXPECT_TRUE(status.ok()) << status;
    return image;
  }

  VolumeRecord Formatted() const {
    VolumeRecord r = record_;
    r.state = VolumeState::kFormatted;
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<Cryptsetup> cryptsetup_;
  std::unique_ptr<DeviceMapper> device_mapper_;
  std::unique_ptr<BlockDevices> devices_;
  Engine engine_;
  VolumeRecord record_;
  SecretBytes key_;
};

TEST_F(CryptImageTest, FormatWritesTheRecordedHeader) {
  const std::string image = FormattedImage("a.img");
  EXPECT_TRUE(engine_.Validate(image, Formatted(), &key_).ok());
  auto header = cryptsetup_->ReadHeader(image);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->facts.label, "pvc-host-1");
  EXPECT_EQ(header->facts.subsystem, "cloak");
  EXPECT_EQ(header->facts.data_offset_sectors * 512, 16u << 20);
  EXPECT_EQ(header->facts.sector_size, 4096u);
  EXPECT_EQ(header->facts.volume_key_bytes, 64u);
}

TEST_F(CryptImageTest, FormatLeavesNoKeyMaterialInTheImage) {
  const std::string image = FormattedImage("a.img");
  auto passphrase = DeriveKeyslotPassphrase(key_, record_.volume_id);
  ASSERT_TRUE(passphrase.ok());
  // Halves are enough: any 32 consecutive key bytes in clear would be a leak.
  EXPECT_FALSE(*testing::FileContains(image, key_.SecretSpan().subspan(0, 32)));
  EXPECT_FALSE(*testing::FileContains(image, key_.SecretSpan().subspan(32, 32)));
  EXPECT_FALSE(*testing::FileContains(image, passphrase->SecretSpan()));
}

TEST_F(CryptImageTest, FormatRefusesAnImageThatHoldsALuksHeader) {
  const std::string image = FormattedImage("a.img");
  SecretBytes other = RandomKey(64);
  absl::Status status = engine_.Format(image, record_, other, DeviceClaim::kNewAndEmpty);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("already carries a LUKS header"));
  EXPECT_TRUE(engine_.Validate(image, Formatted(), &key_).ok());  // untouched
}

TEST_F(CryptImageTest, FormatRefusesAnImageWithAnExt4Signature) {
  const std::string image = dir_.SparseFile("ext4.img", kImageBytes);
  auto mkfs = testing::RunProcess({"mkfs.ext4", "-q", "-F", image}, nullptr, nullptr);
  ASSERT_TRUE(mkfs.ok() && *mkfs == 0) << "mkfs.ext4 failed";
  absl::Status status = engine_.Format(image, record_, key_, DeviceClaim::kUnknown);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("[ext4]"));
  EXPECT_EQ(cryptsetup_->ReadHeader(image).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CryptImageTest, FailedFormatLeavesNoHalfWrittenHeader) {
  const std::string image = dir_.SparseFile("half.img", kImageBytes);
  FormatSpec spec = FormatSpecFor(record_);
  spec.keyslot_cipher = "cipher_null-ecb";  // libcryptsetup refuses it after crypt_format
  auto passphrase = DeriveKeyslotPassphrase(key_, record_.volume_id);
  ASSERT_TRUE(passphrase.ok());
  absl::Status status = cryptsetup_->Format(image, spec, key_, *passphrase);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("keyslot encryption"));
  EXPECT_EQ(cryptsetup_->ReadHeader(image).status().code(), absl::StatusCode::kNotFound);
  auto signatures = devices_->ProbeSignatures(image);
  ASSERT_TRUE(signatures.ok()) << signatures.status();
  EXPECT_TRUE(signatures->empty());
  // The device is as it was: a normal format now succeeds.
  EXPECT_TRUE(engine_.Format(image, record_, key_, DeviceClaim::kUnknown).ok());
}

TEST_F(CryptImageTest, ValidateWithoutHeaderIsNotFound) {
  const std::string image = dir_.SparseFile("blank.img", kImageBytes);
  EXPECT_EQ(engine_.Validate(image, Formatted(), nullptr).code(), absl::StatusCode::kNotFound);
}

TEST_F(CryptImageTest, ValidateRefusesAnotherVolumesRecord) {
  const std::string image = FormattedImage("a.img");
  VolumeRecord other = *DefaultRecord("pvc-host-2", IntegrityMode::kNone);
  absl::Status status = engine_.Validate(image, other, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("luks2.label"));
}

TEST_F(CryptImageTest, DigestCopiedFromAnotherVolumeIsCaughtByTheKey) {
  const std::string image = FormattedImage("a.img");
  const std::string donor = dir_.SparseFile("b.img", kImageBytes);
  SecretBytes donor_key = RandomKey(64);
  ASSERT_TRUE(engine_.Format(donor, record_, donor_key, DeviceClaim::kUnknown).ok());
  auto donor_json = testing::ReadLuks2Json(donor);
  ASSERT_TRUE(donor_json.ok());
  ASSERT_TRUE(testing::EditLuks2Json(image, [&](nlohmann::json& j) {
                j["digests"] = (*donor_json)["digests"];
              }).ok());
  // Same shape: the JSON policy cannot tell; the key check can.
  EXPECT_TRUE(engine_.Validate(image, Formatted(), nullptr).ok());
  absl::Status status = engine_.Validate(image, Formatted(), &key_);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("digest"));
}

// Tampers that libcryptsetup 2.6 itself refuses to load; every other one loads and must
// be caught by Cloak's policy.
const std::set<std::string>& RefusedByLibcryptsetup() {
  static const auto* refused = new std::set<std::string>{CLOAK_LIBCRYPTSETUP_REFUSES};
  return *refused;
}

class ImageTamperTest : public CryptImageTest,
                        public ::testing::WithParamInterface<testing::HeaderTamper> {};

TEST_P(ImageTamperTest, IsRefusedNamingTheField) {
  const std::string image = FormattedImage("t.img");
  ASSERT_TRUE(testing::EditLuks2Json(image, GetParam().apply).ok());
  auto header = cryptsetup_->ReadHeader(image);
  absl::Status status = engine_.Validate(image, Formatted(), &key_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  if (RefusedByLibcryptsetup().contains(GetParam().name)) {
    EXPECT_FALSE(header.ok()) << "libcryptsetup now loads " << GetParam().name
                              << "; drop it from CLOAK_LIBCRYPTSETUP_REFUSES";
    EXPECT_THAT(std::string(status.message()), HasSubstr("libcryptsetup refuses"));
  } else {
    ASSERT_TRUE(header.ok()) << "libcryptsetup refused " << GetParam().name << ": "
                             << header.status();
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("does not match the key service record: " + GetParam().field + ":"));
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, ImageTamperTest,
                         ::testing::ValuesIn(testing::HeaderTampers(IntegrityMode::kNone)),
                         [](const auto& test_info) { return test_info.param.name; });

}  // namespace
}  // namespace cloak::crypt
