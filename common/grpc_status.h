#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace cloak {

// The one place where an absl::Status becomes a gRPC status: same code (the two
// enums share their numbering), same message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace cloak
