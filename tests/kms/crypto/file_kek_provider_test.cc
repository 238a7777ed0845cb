#include "kms/crypto/file_kek_provider.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::kms {
namespace {

using kms_test::TempDir;

std::vector<std::uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FileKekProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FileKekProvider>> provider = FileKekProvider::Initialize(path_);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = *std::move(provider);
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSize);
    ASSERT_TRUE(dek.ok());
    dek_ = *std::move(dek);
  }

  std::vector<std::uint8_t> MustWrap(std::uint32_t kek_version, std::string_view volume,
                                     std::uint32_t key_version) {
    absl::StatusOr<std::vector<std::uint8_t>> wrapped =
        provider_->Wrap(kek_version, dek_, WrapAad(volume, key_version));
    EXPECT_TRUE(wrapped.ok()) << wrapped.status();
    return wrapped.ok() ? *wrapped : std::vector<std::uint8_t>{};
  }

  TempDir dir_;
  const std::string path_ = dir_.File("kek.bin");
  std::unique_ptr<FileKekProvider> provider_;
  SecretBytes dek_;
};

TEST_F(FileKekProviderTest, InitializeCreatesOnePrivateActiveVersion) {
  EXPECT_EQ(provider_->CurrentVersion(), 1u);
  EXPECT_EQ(provider_->Versions(), (std::vector<KekVersionInfo>{{1, KekState::kActive}}));
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_EQ(FileKekProvider::Initialize(path_).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(FileKekProviderTest, RoundTrip) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  absl::StatusOr<SecretBytes> unwrapped = provider_->Unwrap(1, wrapped, WrapAad("pvc-1", 1));
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(*unwrapped == dek_);
}

TEST_F(FileKekProviderTest, WrongVolumeOrKeyVersionIsRefused) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  EXPECT_EQ(provider_->Unwrap(1, wrapped, WrapAad("pvc-2", 1)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(provider_->Unwrap(1, wrapped, WrapAad("pvc-1", 2)).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(FileKekProviderTest, FlippedBitAnywhereIsRefused) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  const std::vector<std::uint8_t> aad = WrapAad("pvc-1", 1);
  for (std::size_t bit = 0; bit < wrapped.size() * 8; ++bit) {
    std::vector<std::uint8_t> tampered = wrapped;
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const absl::Status status = provider_->Unwrap(1, tampered, aad).status();
    EXPECT_FALSE(status.ok()) << "bit " << bit;
    EXPECT_TRUE(status.code() == absl::StatusCode::kUnauthenticated ||
                status.code() == absl::StatusCode::kInvalidArgument)
        << "bit " << bit << ": " << status;
  }
}

TEST_F(FileKekProviderTest, UnknownAndMismatchedKekVersions) {
  EXPECT_EQ(provider_->Wrap(2, dek_, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kNotFound);
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  EXPECT_EQ(provider_->Unwrap(2, wrapped, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::uint8_t> renamed = wrapped;
  renamed[4] = 9;  // the blob now names KEK version 9, which does not exist
  EXPECT_EQ(provider_->Unwrap(9, renamed, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FileKekProviderTest, AddVersionPersistsAndSurvivesReload) {
  const std::vector<std::uint8_t> old_wrapped = MustWrap(1, "pvc-1", 1);
  absl::StatusOr<std::uint32_t> added = provider_->AddVersion();
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 2u);
  EXPECT_EQ(provider_->CurrentVersion(), 2u);
  const std::vector<std::uint8_t> new_wrapped = MustWrap(2, "pvc-1", 1);

  absl::StatusOr<std::unique_ptr<FileKekProvider>> reloaded = FileKekProvider::Open(path_);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->CurrentVersion(), 2u);
  EXPECT_EQ((*reloaded)->Versions(),
            (std::vector<KekVersionInfo>{{1, KekState::kActive}, {2, KekState::kActive}}));
  for (const auto& [version, wrapped] : {std::pair{1u, old_wrapped}, std::pair{2u, new_wrapped}}) {
    absl::StatusOr<SecretBytes> unwrapped =
        (*reloaded)->Unwrap(version, wrapped, WrapAad("pvc-1", 1));
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
    EXPECT_TRUE(*unwrapped == dek_);
  }
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
}

TEST_F(FileKekProviderTest, RetireRules) {
  EXPECT_EQ(provider_->Retire(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(provider_->Retire(7).code(), absl::StatusCode::kNotFound);
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  ASSERT_TRUE(provider_->AddVersion().ok());
  ASSERT_TRUE(provider_->Retire(1).ok());
  EXPECT_TRUE(provider_->Retire(1).ok()) << "retiring twice is idempotent";
  EXPECT_EQ(provider_->Wrap(1, dek_, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(provider_->Unwrap(1, wrapped, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<std::unique_ptr<FileKekProvider>> reloaded = FileKekProvider::Open(path_);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ((*reloaded)->Versions(),
            (std::vector<KekVersionInfo>{{1, KekState::kRetired}, {2, KekState::kActive}}));
}

TEST_F(FileKekProviderTest, FilePermissionsAreEnforced) {
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<FileKekProvider>> opened = FileKekProvider::Open(path_);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("0644"), std::string::npos) << opened.status();
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  EXPECT_TRUE(FileKekProvider::Open(path_).ok());
}

TEST_F(FileKekProviderTest, DamagedFileIsRefused) {
  std::vector<std::uint8_t> bytes = ReadAll(path_);
  bytes[20] ^= 0x01;
  std::ofstream(path_, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  absl::StatusOr<std::unique_ptr<FileKekProvider>> opened = FileKekProvider::Open(path_);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find(path_), std::string::npos);
}

// Invariant 1: the KEK file holds KEKs, never a DEK, whatever was wrapped through it.
TEST_F(FileKekProviderTest, KekFileNeverContainsADek) {
  std::vector<SecretBytes> deks;
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<SecretBytes> dek =
        GenerateDek(i % 2 == 0 ? kDekSize : kDekSizeWithHmacIntegrity);
    ASSERT_TRUE(dek.ok());
    ASSERT_TRUE(provider_->Wrap(provider_->CurrentVersion(), *dek, WrapAad("pvc-1", 1)).ok());
    if (i == 3) {
      ASSERT_TRUE(provider_->AddVersion().ok());
    }
    deks.push_back(*std::move(dek));
  }
  ASSERT_TRUE(provider_->Retire(1).ok());
  const std::vector<std::uint8_t> file = ReadAll(path_);
  ASSERT_FALSE(file.empty());
  for (const SecretBytes& dek : deks) {
    // Any 16-byte window of a DEK would be a leak.
    for (std::size_t offset = 0; offset + 16 <= dek.size(); offset += 16) {
      const auto window = dek.SecretSpan().subspan(offset, 16);
      EXPECT_EQ(std::search(file.begin(), file.end(), window.begin(), window.end()), file.end());
    }
  }
}

TEST_F(FileKekProviderTest, ConcurrentWrapsDuringRotation) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::uint32_t version = provider_->CurrentVersion();
        const std::vector<std::uint8_t> aad = WrapAad("pvc-" + std::to_string(t), i);
        absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider_->Wrap(version, dek_, aad);
        absl::StatusOr<SecretBytes> unwrapped =
            wrapped.ok() ? provider_->Unwrap(version, *wrapped, aad) : wrapped.status();
        if (!unwrapped.ok() || !(*unwrapped == dek_)) ++failures;
      }
    });
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(provider_->AddVersion().ok());
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(provider_->CurrentVersion(), 4u);
}

}  // namespace
}  // namespace cloak::kms
