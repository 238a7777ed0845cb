#include "attest/snp/sysfs_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

absl::Status Unavailable(int err, std::string_view context) {
  return absl::UnavailableError(ErrnoToStatus(err, context).message());
}

}  // namespace

absl::StatusOr<std::string> ReadAttribute(const std::string& path, std::size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Unavailable(errno, fmt::format("open {}", path));
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Unavailable(errno, fmt::format("read {}", path));
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > limit) {
      return absl::OutOfRangeError(fmt::format("{} is longer than {} bytes", path, limit));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

absl::Status WriteAttribute(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return Unavailable(errno, fmt::format("open {}", path));
  ssize_t n;
  do {
    n = ::write(fd.get(), data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Unavailable(errno, fmt::format("write {}", path));
  if (static_cast<std::size_t>(n) != data.size()) {
    return absl::UnavailableError(fmt::format("short write to {}", path));
  }
  return absl::OkStatus();
}

}  // namespace cloak::attest::snp
