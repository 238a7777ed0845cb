// crypt_vm_test: the engine on real kernel dm-crypt / dm-integrity. Runs inside the
// QEMU guest of the VM tier (tests/vm), never on the host: it formats and overwrites
// the disks named by CLOAK_DISK_A and CLOAK_DISK_B. Every test wipes what it uses
// first, so the tests are independent and can run in any order.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>

#include "crypt/block_devices_impl.h"
#include "crypt/cryptsetup_impl.h"
#include "crypt/device_mapper_impl.h"
#include "crypt/dm_table.h"
#include "crypt/engine.h"
#include "tests/crypt/header_tampers.h"
#include "tests/crypt/image_fixture.h"
#include "tests/crypt/luks2_header_editor.h"

namespace cloak::crypt {
namespace {

using ::testing::HasSubstr;

constexpr const char* kName = "cloak-vm-test";
constexpr std::size_t kBlock = 4096;

std::string Disk(const char* variable) {
  const char* value = std::getenv(variable);
  return value == nullptr ? "" : value;
}

struct AlignedBuffer {
  explicit AlignedBuffer(std::size_t n)
      : size(n), data(static_cast<std::uint8_t*>(std::aligned_alloc(kBlock, n))) {
    std::memset(data, 0, n);
  }
  ~AlignedBuffer() { std::free(data); }
  std::size_t size;
  std::uint8_t* data;
};

// O_DIRECT I/O on a device; returns errno (0 on success).
int DirectIo(const std::string& path, bool write, std::uint64_t offset, AlignedBuffer& buffer) {
  const int fd = open(path.c_str(), (write ? O_WRONLY : O_RDONLY) | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return errno;
  const ssize_t n = write ? pwrite(fd, buffer.data, buffer.size, static_cast<off_t>(offset))
                          : pread(fd, buffer.data, buffer.size, static_cast<off_t>(offset));
  const int error = n < 0 ? errno : (n == static_cast<ssize_t>(buffer.size) ? 0 : EIO);
  if (write && error == 0 && fsync(fd) != 0) return errno;
  close(fd);
  return error;
}

void Fill(AlignedBuffer& buffer, std::uint32_t seed) {
  std::mt19937 random(seed);
  for (std::size_t i = 0; i < buffer.size; ++i)
    buffer.data[i] = static_cast<std::uint8_t>(random());
}

SecretBytes Key(std::size_t size, std::uint32_t seed) {
  SecretBytes key(size);
  std::mt19937 random(seed);
  for (std::size_t i = 0; i < size; ++i)
    key.MutableSecretData()[i] = static_cast<std::uint8_t>(random());
  return key;
}

class VmTest : public ::testing::Test {
 protected:
  VmTest()
      : cryptsetup_(NewLibCryptsetup()),
        dm_(NewLibDeviceMapper()),
        devices_(NewSystemBlockDevices()),
        engine_(*cryptsetup_, *dm_, *devices_),
        disk1_(Disk("CLOAK_DISK_A")),
        disk2_(Disk("CLOAK_DISK_B")) {}

  void SetUp() override {
    ASSERT_FALSE(disk1_.empty()) << "CLOAK_DISK_A is not set";
    ASSERT_TRUE(engine_.Close(kName).ok());
    Wipe(disk1_);
    if (!disk2_.empty()) Wipe(disk2_);
  }

  void TearDown() override {
    EXPECT_TRUE(engine_.Close(kName).ok());
    ExpectNoMapping();
  }

  // Zeroes the header area and the last MiB, where signatures live.
  void Wipe(const std::string& disk) {
    AlignedBuffer zeros(1 << 20);
    auto size = devices_->SizeBytes(disk);
    ASSERT_TRUE(size.ok());
    for (std::uint64_t offset = 0; offset < (18u << 20); offset += zeros.size) {
      ASSERT_EQ(DirectIo(disk, true, offset, zeros), 0);
    }
    ASSERT_EQ(DirectIo(disk, true, *size - zeros.size, zeros), 0);
  }

  void ExpectNoMapping() {
    EXPECT_TRUE(absl::IsNotFound(dm_->Info(kName).status())) << "mapping left behind";
    EXPECT_TRUE(absl::IsNotFound(dm_->Info(IntegrityMappingName(kName)).status()))
        << "integrity mapping left behind";
  }

  VolumeRecord Record(IntegrityMode mode, const std::string& id = "pvc-vm-1") {
    return *DefaultRecord(id, mode);
  }

  // Formats `disk` and, with integrity, initialises every tag. Returns the record as the
  // key service would hold it afterwards.
  VolumeRecord FormatVolume(const std::string& disk, IntegrityMode mode, const SecretBytes& key) {
    VolumeRecord record = Record(mode);
    absl::Status formatted = engine_.Format(disk, record, key, DeviceClaim::kUnknown);
    EXPECT_TRUE(formatted.ok()) << formatted;
    record.state = VolumeState::kFormatted;
    if (mode != IntegrityMode::kNone) {
      auto opened = engine_.Open(disk, kName, record, key, {.integrity_no_journal = true});
      EXPECT_TRUE(opened.ok()) << opened.status();
      IntegrityInitOptions init;
      Progress last;
      init.progress = [&last](const Progress& p) { last = p; };
      auto written = engine_.InitializeIntegrity(kName, init);
      EXPECT_TRUE(written.ok()) << written.status();
      std::cout << "[ info ] integrity initialisation (" << IntegrityModeName(mode)
                << "): " << last.bytes_done << " bytes at " << last.bytes_per_second / (1 << 20)
                << " MiB/s\n";
      EXPECT_TRUE(engine_.Close(kName).ok());
    }
    return record;
  }

  std::unique_ptr<Cryptsetup> cryptsetup_;
  std::unique_ptr<DeviceMapper> dm_;
  std::unique_ptr<BlockDevices> devices_;
  Engine engine_;
  std::string disk1_;
  std::string disk2_;
};

class VmRoundTrip : public VmTest, public ::testing::WithParamInterface<IntegrityMode> {};

TEST_P(VmRoundTrip, DataSurvivesCloseAndReopen) {
  const IntegrityMode mode = GetParam();
  const VolumeRecord probe = Record(mode);
  const SecretBytes key = Key(probe.volume_key_bytes(), 1);
  const VolumeRecord record = FormatVolume(disk1_, mode, key);

  auto opened = engine_.Open(disk1_, kName, record, key, {});
  ASSERT_TRUE(opened.ok()) << opened.status();
  AlignedBuffer canary(kBlock);
  std::memset(canary.data, 0, kBlock);
  std::memcpy(canary.data, "CLOAK-CANARY-7f3e9a", 19);
  AlignedBuffer random(1 << 20);
  Fill(random, 99);
  ASSERT_EQ(DirectIo(opened->mapper_path, true, 0, canary), 0);
  ASSERT_EQ(DirectIo(opened->mapper_path, true, 3 << 20, random), 0);
  ASSERT_TRUE(engine_.Close(kName).ok());
  ExpectNoMapping();

  auto reopened = engine_.Open(disk1_, kName, record, key, {});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_FALSE(reopened->adopted);
  AlignedBuffer read_canary(kBlock);
  AlignedBuffer read_random(1 << 20);
  ASSERT_EQ(DirectIo(reopened->mapper_path, false, 0, read_canary), 0);
  ASSERT_EQ(DirectIo(reopened->mapper_path, false, 3 << 20, read_random), 0);
  EXPECT_EQ(std::memcmp(read_canary.data, canary.data, kBlock), 0);
  EXPECT_EQ(std::memcmp(read_random.data, random.data, random.size), 0);

  // Open again while open: adopted, not re-activated.
  auto again = engine_.Open(disk1_, kName, record, key, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->adopted);
  auto status = engine_.Status(kName);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->integrity, mode != IntegrityMode::kNone);
  EXPECT_EQ(status->integrity_mismatches, 0u);
  ASSERT_TRUE(engine_.Close(kName).ok());

  // Only ciphertext reached the disk (the host tier scans the backing files as well).
  const std::string_view marker = "CLOAK-CANARY-7f3e9a";
  auto has_canary = testing::FileContains(
      disk1_, {reinterpret_cast<const std::uint8_t*>(marker.data()), marker.size()});
  ASSERT_TRUE(has_canary.ok());
  EXPECT_FALSE(*has_canary) << "the canary reached the disk in clear";
  auto has_key = testing::FileContains(disk1_, key.SecretSpan().subspan(0, 32));
  ASSERT_TRUE(has_key.ok());
  EXPECT_FALSE(*has_key) << "key bytes reached the disk in clear";
}

INSTANTIATE_TEST_SUITE_P(Modes, VmRoundTrip,
                         ::testing::Values(IntegrityMode::kNone, IntegrityMode::kHmacSha256,
                                           IntegrityMode::kAead),
                         [](const auto& test_info) {
                           std::string name(IntegrityModeName(test_info.param));
                           std::erase(name, '-');
                           return name;
                         });

struct TamperCase {
  IntegrityMode mode;
  testing::HeaderTamper tamper;
};

void PrintTo(const TamperCase& c, std::ostream* os) {
  *os << IntegrityModeName(c.mode) << "/" << c.tamper.name;
}

std::vector<TamperCase> TamperCases() {
  std::vector<TamperCase> cases;
  for (IntegrityMode mode : {IntegrityMode::kNone, IntegrityMode::kHmacSha256}) {
    for (auto& tamper : testing::HeaderTampers(mode)) cases.push_back({mode, tamper});
  }
  return cases;
}

class VmTamper : public VmTest, public ::testing::WithParamInterface<TamperCase> {};

TEST_P(VmTamper, OpenIsRefusedAndLeavesNoMapping) {
  const IntegrityMode mode = GetParam().mode;
  const SecretBytes key = Key(Record(mode).volume_key_bytes(), 2);
  VolumeRecord record = Record(mode);
  ASSERT_TRUE(engine_.Format(disk1_, record, key, DeviceClaim::kUnknown).ok());
  record.state = VolumeState::kFormatted;
  ASSERT_TRUE(testing::EditLuks2Json(disk1_, GetParam().tamper.apply).ok());
  auto opened = engine_.Open(disk1_, kName, record, key, {});
  ASSERT_FALSE(opened.ok()) << GetParam().tamper.name << " was activated";
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition) << opened.status();
  // Either Cloak's policy named the field, or libcryptsetup refused to load the header.
  const std::string message(opened.status().message());
  EXPECT_TRUE(message.find(GetParam().tamper.field + ":") != std::string::npos ||
              message.find("libcryptsetup refuses") != std::string::npos)
      << message;
  ExpectNoMapping();
}

INSTANTIATE_TEST_SUITE_P(Matrix, VmTamper, ::testing::ValuesIn(TamperCases()),
                         [](const auto& test_info) {
                           std::string mode(IntegrityModeName(test_info.param.mode));
                           std::erase(mode, '-');
                           return mode + "_" + test_info.param.tamper.name;
                         });

TEST_F(VmTest, DigestCopiedFromAnotherVolumeIsRefused) {
  ASSERT_FALSE(disk2_.empty()) << "CLOAK_DISK_B is not set";
  const SecretBytes key = Key(64, 3);
  const SecretBytes other_key = Key(64, 4);
  VolumeRecord record = Record(IntegrityMode::kNone);
  ASSERT_TRUE(engine_.Format(disk1_, record, key, DeviceClaim::kUnknown).ok());
  ASSERT_TRUE(engine_.Format(disk2_, record, other_key, DeviceClaim::kUnknown).ok());
  record.state = VolumeState::kFormatted;
  auto donor = testing::ReadLuks2Json(disk2_);
  ASSERT_TRUE(donor.ok());
  ASSERT_TRUE(testing::EditLuks2Json(disk1_, [&](nlohmann::json& j) {
                j["digests"] = (*donor)["digests"];
              }).ok());
  auto opened = engine_.Open(disk1_, kName, record, key, {});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied) << opened.status();
  ExpectNoMapping();
  // The donor's header with our key: refused the same way.
  auto swapped = engine_.Open(disk2_, kName, record, key, {});
  EXPECT_EQ(swapped.status().code(), absl::StatusCode::kPermissionDenied) << swapped.status();
  ExpectNoMapping();
}

TEST_F(VmTest, FormatRefusesADiskThatHoldsAVolume) {
  const SecretBytes key = Key(64, 5);
  FormatVolume(disk1_, IntegrityMode::kNone, key);
  absl::Status again =
      engine_.Format(disk1_, Record(IntegrityMode::kNone), Key(64, 6), DeviceClaim::kNewAndEmpty);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(engine_.Validate(disk1_, Record(IntegrityMode::kNone), &key).ok());
}

TEST_F(VmTest, StatusAndResizeOfAPlainVolume) {
  const SecretBytes key = Key(64, 7);
  const VolumeRecord record = FormatVolume(disk1_, IntegrityMode::kNone, key);
  ASSERT_TRUE(engine_.Open(disk1_, kName, record, key, {}).ok());
  auto status = engine_.Status(kName);
  ASSERT_TRUE(status.ok()) << status.status();
  auto disk_size = devices_->SizeBytes(disk1_);
  ASSERT_TRUE(disk_size.ok());
  EXPECT_EQ(status->size_bytes, *disk_size - record.data_offset_bytes);
  EXPECT_FALSE(status->integrity);
  // The disk cannot grow inside the guest: a resize to the same size must still pass
  // the whole validate → reload → verify sequence.
  absl::Status resized = engine_.Resize(disk1_, kName, record, key, {});
  EXPECT_TRUE(resized.ok()) << resized;
  EXPECT_TRUE(engine_.VerifyMapping(disk1_, kName, record, {}).ok());
}

TEST_F(VmTest, ResizeOfAnIntegrityVolumeIsRefused) {
  const SecretBytes key = Key(96, 8);
  const VolumeRecord record = FormatVolume(disk1_, IntegrityMode::kHmacSha256, key);
  ASSERT_TRUE(engine_.Open(disk1_, kName, record, key, {}).ok());
  absl::Status resized = engine_.Resize(disk1_, kName, record, key, {});
  EXPECT_EQ(resized.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(engine_.VerifyMapping(disk1_, kName, record, {}).ok());
}

TEST_F(VmTest, DiscardsOnlyWhenAsked) {
  const SecretBytes key = Key(64, 9);
  const VolumeRecord record = FormatVolume(disk1_, IntegrityMode::kNone, key);
  ASSERT_TRUE(engine_.Open(disk1_, kName, record, key, {.allow_discards = true}).ok());
  auto table = dm_->Table(kName);
  ASSERT_TRUE(table.ok());
  EXPECT_THAT((*table)[0].params, HasSubstr("allow_discards"));
  EXPECT_THAT((*table)[0].params, HasSubstr(":64:logon:"));  // key in the kernel keyring
  // Open again without discards does not adopt the discarding mapping.
  EXPECT_EQ(engine_.Open(disk1_, kName, record, key, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Corrupts what one write changed on the raw disk and checks that the read is refused.
// With LUKS2 integrity dm-crypt checks the tags that dm-integrity stores for it, and a bad
// tag fails the read with EILSEQ (BLK_STS_PROTECTION) and an "INTEGRITY AEAD ERROR" kernel
// message; dm-integrity's own mismatch counter counts only its internal checksums and so
// stays 0 here (measured on 6.1).
TEST_F(VmTest, CorruptedSectorReadIsRefused) {
  const SecretBytes key = Key(96, 10);
  const VolumeRecord record = FormatVolume(disk1_, IntegrityMode::kHmacSha256, key);
  constexpr std::uint64_t kProbe = 8u << 20;  // logical offset of the probed block
  constexpr std::uint64_t kScan = 64u << 20;  // raw bytes compared after the data offset
  AlignedBuffer before(kScan);
  ASSERT_EQ(DirectIo(disk1_, false, record.data_offset_bytes, before), 0);
  {
    // No journal, so the raw disk changes only where the data and its tag live.
    auto opened = engine_.Open(disk1_, kName, record, key, {.integrity_no_journal = true});
    ASSERT_TRUE(opened.ok()) << opened.status();
    AlignedBuffer data(kBlock);
    Fill(data, 11);
    ASSERT_EQ(DirectIo(opened->mapper_path, true, kProbe, data), 0);
    ASSERT_TRUE(engine_.Close(kName).ok());
  }
  AlignedBuffer after(kScan);
  ASSERT_EQ(DirectIo(disk1_, false, record.data_offset_bytes, after), 0);
  std::vector<std::uint64_t> changed;
  for (std::uint64_t offset = 0; offset < kScan; offset += kBlock) {
    if (std::memcmp(before.data + offset, after.data + offset, kBlock) != 0) {
      changed.push_back(offset);
    }
  }
  ASSERT_FALSE(changed.empty()) << "the write did not reach the scanned area";
  // The data block is the changed block that is entirely different (ciphertext);
  // the tag block differs in a few bytes only. Flip one byte of the data block.
  std::uint64_t target = changed.front();
  for (std::uint64_t offset : changed) {
    std::size_t differing = 0;
    for (std::size_t i = 0; i < kBlock; ++i) {
      differing += before.data[offset + i] != after.data[offset + i];
    }
    if (differing > kBlock / 2) target = offset;
  }
  AlignedBuffer block(kBlock);
  std::memcpy(block.data, after.data + target, kBlock);
  block.data[100] ^= 0x01;
  ASSERT_EQ(DirectIo(disk1_, true, record.data_offset_bytes + target, block), 0);

  auto reopened = engine_.Open(disk1_, kName, record, key, {});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  AlignedBuffer read(kBlock);
  EXPECT_EQ(DirectIo(reopened->mapper_path, false, kProbe, read), EILSEQ);
  AlignedBuffer neighbour(kBlock);
  EXPECT_EQ(DirectIo(reopened->mapper_path, false, kProbe + kBlock, neighbour), 0);
  auto status = engine_.Status(kName);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->integrity);
  EXPECT_EQ(status->integrity_mismatches, 0u) << "dm-integrity counted a dm-crypt tag failure; "
                                                 "update docs/crypt.md";
}

}  // namespace
}  // namespace cloak::crypt

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    std::cerr << "crypt_vm_test must run as root inside the VM tier guest\n";
    return 1;
  }
  if (std::getenv("CLOAK_DISK_A") == nullptr) {
    std::cerr << "crypt_vm_test: set CLOAK_DISK_A (and CLOAK_DISK_B) to scratch disks; "
                 "their contents are destroyed\n";
    return 1;
  }
  std::filesystem::create_directories("/run/cryptsetup");
  return RUN_ALL_TESTS();
}
