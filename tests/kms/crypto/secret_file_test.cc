#include "kms/crypto/secret_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::kms {
namespace {

using kms_test::TempDir;

void WritePlain(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

TEST(SecretFileTest, WritesMode0600AndReadsBack) {
  TempDir dir;
  const std::string path = dir.File("kek");
  const SecretBytes contents = SecretBytes::CopyFrom(std::vector<std::uint8_t>{1, 2, 3, 4});
  ASSERT_TRUE(WritePrivateFileAtomically(path, contents).ok());
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  absl::StatusOr<SecretBytes> read = ReadPrivateFile(path, 64);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == contents);
  // No temporary file is left beside it.
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(SecretFileTest, RefusesGroupOrWorldAccess) {
  TempDir dir;
  for (const mode_t mode : {0640, 0604, 0660, 0644, 0700 | 0004}) {
    const std::string path = dir.File("kek");
    WritePlain(path, "x", mode);
    absl::StatusOr<SecretBytes> read = ReadPrivateFile(path, 64);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_NE(read.status().message().find("chmod 600"), std::string::npos);
  }
  const std::string ok_path = dir.File("ok");
  WritePlain(ok_path, "x", 0400);
  EXPECT_TRUE(ReadPrivateFile(ok_path, 64).ok());
}

TEST(SecretFileTest, RefusesMissingSymlinkDirectoryAndOversizedFiles) {
  TempDir dir;
  EXPECT_EQ(ReadPrivateFile(dir.File("missing"), 64).status().code(), absl::StatusCode::kNotFound);
  const std::string target = dir.File("target");
  WritePlain(target, "x", 0600);
  const std::string link = dir.File("link");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(ReadPrivateFile(link, 64).status().code(), absl::StatusCode::kFailedPrecondition);
  ::chmod(dir.path().c_str(), 0700);
  EXPECT_FALSE(ReadPrivateFile(dir.path(), 64).ok());
  WritePlain(target, std::string(65, 'x'), 0600);
  EXPECT_EQ(ReadPrivateFile(target, 64).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(SecretFileTest, RefusesAFileOwnedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  TempDir dir;
  const std::string path = dir.File("kek");
  WritePlain(path, "x", 0600);
  ASSERT_EQ(::chown(path.c_str(), 4242, 4242), 0);
  EXPECT_EQ(ReadPrivateFile(path, 64).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cloak::kms
