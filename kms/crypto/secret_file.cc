#include "kms/crypto/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/atomic_file.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"

namespace cloak::kms {
namespace {}  // namespace

absl::StatusOr<SecretBytes> ReadPrivateFile(const std::string& path, std::size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          fmt::format("{} is a symbolic link; point the configuration at the file itself", path));
    }
    return ErrnoToStatus(errno, fmt::format("open {}", path));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return ErrnoToStatus(errno, fmt::format("stat {}", path));
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(fmt::format("{} is not a regular file", path));
  }
  if (info.st_uid != ::geteuid()) {
    return absl::PermissionDeniedError(
        fmt::format("{} is owned by uid {}, not by this process's uid {}; chown it", path,
                    info.st_uid, ::geteuid()));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        fmt::format("{} has mode {:04o}; a key file must be private to its owner (chmod 600 {})",
                    path, info.st_mode & 07777, path));
  }
  if (info.st_size < 0 || static_cast<std::size_t>(info.st_size) > max_size) {
    return absl::OutOfRangeError(
        fmt::format("{} is {} bytes, larger than the {} allowed", path, info.st_size, max_size));
  }
  const std::size_t size = static_cast<std::size_t>(info.st_size);
  SecretBytes contents(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.get(), contents.MutableSecretData() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("read {}", path));
    if (n == 0) {
      return absl::DataLossError(fmt::format("{} shrank while it was being read", path));
    }
    done += static_cast<std::size_t>(n);
  }
  return contents;
}

absl::Status WritePrivateFileAtomically(const std::string& path, const SecretBytes& contents) {
  return WriteFileAtomically(path, contents.SecretSpan(), 0600);
}

}  // namespace cloak::kms
