// How failed KeyService RPCs read: transport failures name the address and the fix; the
// service's codes and messages pass through.

#include "kms/client/rpc_errors.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cloak::kms::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Case {
  grpc::StatusCode code;
  std::string detail;
  absl::StatusCode want_code;
  std::vector<std::string> want;      // substrings of the message
  std::vector<std::string> not_want;  // never in the message
};

TEST(RpcErrorsTest, Table) {
  const std::string address = "10.0.2.100:7443";
  const std::vector<Case> cases = {
      {grpc::StatusCode::UNAVAILABLE,
       "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.2.100:7443: "
       "Failed to connect to remote host: Connection refused",
       absl::StatusCode::kUnavailable,
       {"cannot reach the key service at 10.0.2.100:7443 (Attest)", "Connection refused",
        "cloak-kms runs"},
       {"TLS"}},
      {grpc::StatusCode::UNAVAILABLE,
       "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Ssl "
       "handshake failed: SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:"
       "CERTIFICATE_VERIFY_FAILED",
       absl::StatusCode::kUnavailable,
       {"cannot reach the key service", "TLS handshake failed", "CA file"},
       {}},
      {grpc::StatusCode::UNAVAILABLE,
       "store unavailable: database is locked",
       absl::StatusCode::kUnavailable,
       {"Attest at 10.0.2.100:7443: store unavailable: database is locked"},
       {"cannot reach"}},
      {grpc::StatusCode::DEADLINE_EXCEEDED,
       "Deadline Exceeded",
       absl::StatusCode::kDeadlineExceeded,
       {"did not answer Attest in time", "10.0.2.100:7443"},
       {}},
      {grpc::StatusCode::PERMISSION_DENIED,
       "tpm.pcrs.7: PCR 7 is 3d..., which is not allowed",
       absl::StatusCode::kPermissionDenied,
       {"Attest at 10.0.2.100:7443: tpm.pcrs.7: PCR 7 is 3d..., which is not allowed"},
       {}},
      {grpc::StatusCode::UNAUTHENTICATED,
       "session token expired",
       absl::StatusCode::kUnauthenticated,
       {"session token expired"},
       {}},
      {grpc::StatusCode::NOT_FOUND,
       "volume pvc-1 not found",
       absl::StatusCode::kNotFound,
       {"volume pvc-1 not found"},
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.detail);
    const absl::Status status =
        DescribeKeyServiceError(grpc::Status(c.code, c.detail), "Attest", address);
    EXPECT_EQ(status.code(), c.want_code);
    for (const std::string& want : c.want) EXPECT_THAT(status.message(), HasSubstr(want));
    for (const std::string& bad : c.not_want) EXPECT_THAT(status.message(), Not(HasSubstr(bad)));
  }
}

}  // namespace
}  // namespace cloak::kms::client
