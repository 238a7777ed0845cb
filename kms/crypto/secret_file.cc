#include "kms/crypto/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::kms {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred close would swallow.
  int Close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

std::string DirectoryOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<SecretBytes> ReadPrivateFile(const std::string& path, std::size_t max_size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
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
  std::string temp_template = path + ".tmp.XXXXXX";
  std::vector<char> temp_path(temp_template.begin(), temp_template.end());
  temp_path.push_back('\0');
  Fd fd(::mkostemp(temp_path.data(), O_CLOEXEC));
  if (fd.get() < 0)
    return ErrnoToStatus(errno, fmt::format("create a temporary file for {}", path));
  const std::string temp(temp_path.data());

  auto fail = [&temp](int error_number, std::string_view what) {
    ::unlink(temp.c_str());
    return ErrnoToStatus(error_number, what);
  };
  if (::fchmod(fd.get(), 0600) != 0) return fail(errno, fmt::format("chmod {}", temp));
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.SecretData() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, fmt::format("write {}", temp));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(errno, fmt::format("fsync {}", temp));
  if (fd.Close() != 0) return fail(errno, fmt::format("close {}", temp));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return fail(errno, fmt::format("rename {} to {}", temp, path));
  }
  const std::string directory = DirectoryOf(path);
  Fd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return ErrnoToStatus(errno, fmt::format("open directory {}", directory));
  if (::fsync(dir.get()) != 0) return ErrnoToStatus(errno, fmt::format("fsync {}", directory));
  return absl::OkStatus();
}

}  // namespace cloak::kms
