#pragma once

// How a failed KeyService RPC reads to the caller of kms/client: transport failures say
// that the service could not be reached, where, and what to check; the service's own
// answers keep their code and message.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace cloak::kms::client {

// True when `status` came from the channel (nothing listening, TLS handshake refused,
// connection lost) rather than from the key service's handler. Thread-safe.
bool IsTransportFailure(const grpc::Status& status);

// The absl::Status for a failed `rpc` to the key service at `address`, same code:
// transport failures become UNAVAILABLE naming the address and the likely fix; a
// deadline says the service did not answer in time; everything else is the service's
// code with its message, prefixed by the RPC and the address. Thread-safe.
absl::Status DescribeKeyServiceError(const grpc::Status& status, absl::string_view rpc,
                                     absl::string_view address);

}  // namespace cloak::kms::client
