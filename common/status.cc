#include "common/status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "fmt/format.h"

namespace cloak {
namespace {

absl::StatusCode CodeForErrno(int error_number) {
  switch (error_number) {
    case ENOENT:
    case ENXIO:
    case ENODEV:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR:
      return absl::StatusCode::kInvalidArgument;
    case EBUSY:
    case EAGAIN:
    case EINTR:
    case ECONNREFUSED:
    case ETIMEDOUT:
      return absl::StatusCode::kUnavailable;
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    case ENOSYS:
    case ENOTSUP:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status ErrnoToStatus(int error_number, std::string_view context) {
  char buffer[256];
  // GNU strerror_r returns a pointer that may or may not point into `buffer`.
  const char* text = strerror_r(error_number, buffer, sizeof(buffer));
  return absl::Status(CodeForErrno(error_number), fmt::format("{}: {}", context, text));
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), fmt::format("{}: {}", context,
                                                 std::string_view(status.message().data(),
                                                                  status.message().size())));
}

}  // namespace cloak
