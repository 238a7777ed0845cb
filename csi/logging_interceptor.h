#pragma once

// A gRPC server interceptor that logs every call once it completes: method, volume id
// (when the request has one), duration, status code and, on failure, the message.
// At debug level the request itself is logged as JSON after StripSecrets, so fields
// marked csi_secret and unknown fields never reach the log.

#include <memory>

#include "common/logging.h"
#include "grpcpp/support/server_interceptor.h"

namespace cloak::csi {

class LoggingInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit LoggingInterceptorFactory(std::shared_ptr<Logger> logger) : logger_(std::move(logger)) {}

  // Called by gRPC once per call; the interceptor lives for that call only.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<Logger> logger_;
};

}  // namespace cloak::csi
