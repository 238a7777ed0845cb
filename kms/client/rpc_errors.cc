#include "kms/client/rpc_errors.h"

#include <array>
#include <span>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cloak::kms::client {
namespace {

// What gRPC core says when the channel, not the handler, failed.
constexpr std::array<absl::string_view, 9> kTransportMarkers = {
    "ailed to connect", "Connection refused", "Socket closed",
    "Connection reset", "andshake",           "SSL",
    "DNS resolution",   "Broken pipe",        "Transport closed"};

constexpr std::array<absl::string_view, 4> kTlsMarkers = {"andshake", "SSL", "certificate",
                                                          "Socket closed"};

bool ContainsAny(absl::string_view text, std::span<const absl::string_view> needles) {
  for (absl::string_view needle : needles) {
    if (absl::StrContains(text, needle)) return true;
  }
  return false;
}

}  // namespace

bool IsTransportFailure(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         ContainsAny(status.error_message(), kTransportMarkers);
}

absl::Status DescribeKeyServiceError(const grpc::Status& status, absl::string_view rpc,
                                     absl::string_view address) {
  const std::string& detail = status.error_message();
  if (IsTransportFailure(status)) {
    absl::string_view hint =
        "check that cloak-kms runs and listens there, and that the address (and, in a VM, "
        "the forward to the host) is right";
    if (ContainsAny(detail, kTlsMarkers)) {
      hint =
          "the TLS handshake failed: check that the CA file is the one that signed the key "
          "service's certificate and that the certificate names the target host (or pass "
          "its name as the target name override)";
    }
    return absl::UnavailableError(absl::StrCat("cannot reach the key service at ", address, " (",
                                               rpc, "): ", detail, "; ", hint));
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError(
        absl::StrCat("the key service at ", address, " did not answer ", rpc, " in time: ", detail,
                     "; check its load and the network path, then retry"));
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(rpc, " at ", address, ": ", detail));
}

}  // namespace cloak::kms::client
