#include "node/kernel_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <functional>

#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"

namespace cloak::node {
namespace {

// One /dev/kmsg read returns one record; the kernel caps a record below this size.
constexpr std::size_t kMaxRecord = 8192;

class SystemKernelLog final : public KernelLog {
 public:
  explicit SystemKernelLog(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::uint64_t> LastSequence() override {
    std::uint64_t last = 0;
    RETURN_IF_ERROR(ForEach([&](const KmsgRecord& record) { last = record.sequence; }));
    return last;
  }

  absl::StatusOr<std::uint64_t> CountIntegrityErrors(const std::vector<std::string>& devices,
                                                     std::uint64_t after) override {
    std::uint64_t count = 0;
    RETURN_IF_ERROR(ForEach([&](const KmsgRecord& record) {
      if (record.sequence > after && IsIntegrityError(record.message, devices)) ++count;
    }));
    return count;
  }

 private:
  // Every record in the ring buffer, oldest first (a fresh open starts at the oldest).
  absl::Status ForEach(const std::function<void(const KmsgRecord&)>& visit) {
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) return ErrnoToStatus(errno, fmt::format("open {}", path_));
    std::string buffer(kMaxRecord, '\0');
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EAGAIN) return absl::OkStatus();    // read everything there is
        if (errno == EPIPE || errno == EINTR) continue;  // overwritten meanwhile: go on
        return ErrnoToStatus(errno, fmt::format("read {}", path_));
      }
      if (n == 0) return absl::OkStatus();
      absl::StatusOr<KmsgRecord> record =
          ParseKmsgRecord(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
      if (record.ok()) visit(*record);
    }
  }

  const std::string path_;
};

}  // namespace

absl::StatusOr<KmsgRecord> ParseKmsgRecord(std::string_view record) {
  const std::size_t semicolon = record.find(';');
  const std::size_t first_comma = record.find(',');
  if (semicolon == std::string_view::npos || first_comma == std::string_view::npos ||
      first_comma > semicolon) {
    return absl::InvalidArgumentError("kmsg record without \"prio,seq,...;\"");
  }
  const std::size_t second_comma = record.find(',', first_comma + 1);
  const std::size_t seq_end = std::min(second_comma, semicolon);
  KmsgRecord parsed;
  const char* begin = record.data() + first_comma + 1;
  const char* end = record.data() + seq_end;
  const auto [ptr, error] = std::from_chars(begin, end, parsed.sequence);
  if (error != std::errc() || ptr != end) {
    return absl::InvalidArgumentError("kmsg record with a bad sequence number");
  }
  std::string_view message = record.substr(semicolon + 1);
  const std::size_t newline = message.find('\n');  // continuation lines follow
  parsed.message = newline == std::string_view::npos ? message : message.substr(0, newline);
  return parsed;
}

bool IsIntegrityError(std::string_view message, const std::vector<std::string>& devices) {
  // Found, not required at the start: some kernels print these lines with another
  // subsystem's prefix in front (6.1: "trusted_key: device-mapper: crypt: ...").
  constexpr std::string_view kPrefix = "device-mapper: crypt: ";
  const std::size_t at = message.find(kPrefix);
  if (at == std::string_view::npos) return false;
  const std::string_view rest = message.substr(at + kPrefix.size());
  for (const std::string& device : devices) {
    if (rest.size() > device.size() && rest.starts_with(device) && rest[device.size()] == ':') {
      const std::string_view what = rest.substr(device.size() + 1);
      return what.find("INTEGRITY AEAD ERROR") != std::string_view::npos ||
             what.find("INTEGRITY HMAC ERROR") != std::string_view::npos;
    }
  }
  return false;
}

std::unique_ptr<KernelLog> MakeSystemKernelLog(std::string path) {
  return std::make_unique<SystemKernelLog>(std::move(path));
}

}  // namespace cloak::node
