#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"

namespace cloak {
namespace {

std::string DirectoryOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::span<const std::uint8_t> contents,
                                 mode_t mode) {
  std::string temp_template = path + ".tmp.XXXXXX";
  std::vector<char> temp_path(temp_template.begin(), temp_template.end());
  temp_path.push_back('\0');
  UniqueFd fd(::mkostemp(temp_path.data(), O_CLOEXEC));
  if (fd.get() < 0)
    return ErrnoToStatus(errno, fmt::format("create a temporary file for {}", path));
  const std::string temp(temp_path.data());

  auto fail = [&temp](int error_number, std::string_view what) {
    ::unlink(temp.c_str());
    return ErrnoToStatus(error_number, what);
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(errno, fmt::format("chmod {}", temp));
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
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
  UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return ErrnoToStatus(errno, fmt::format("open directory {}", directory));
  if (::fsync(dir.get()) != 0) return ErrnoToStatus(errno, fmt::format("fsync {}", directory));
  return absl::OkStatus();
}

}  // namespace cloak
