#include "csi/key_service_errors.h"

#include "fmt/format.h"

namespace cloak::csi {

absl::Status FromKeyService(const absl::Status& status, const std::string& volume_id,
                            std::string_view what, std::string_view refused_hint) {
  const std::string message =
      fmt::format("volume {}: {}: {}", volume_id, what, std::string(status.message()));
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return absl::UnavailableError(message + "; retry when the key service is reachable");
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return absl::PermissionDeniedError(fmt::format("{}; {}", message, refused_hint));
    case absl::StatusCode::kNotFound:
      return absl::NotFoundError(message + "; the volume's key does not exist (deleted?)");
    default:
      return absl::Status(status.code(), message);
  }
}

}  // namespace cloak::csi
