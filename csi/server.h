#pragma once

// The gRPC server bootstrap shared by the CSI plugin (and later the key service's
// Unix-socket listeners): endpoint parsing, stale-socket handling, socket mode, and
// a bounded drain on shutdown.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/logging.h"
#include "grpcpp/server.h"
#include "grpcpp/support/server_interceptor.h"

namespace cloak::csi {

// "unix:///abs/path.sock" or "unix:/abs/path.sock" → "/abs/path.sock". Any other
// scheme, a relative path or an empty path is INVALID_ARGUMENT saying what is expected.
absl::StatusOr<std::string> ParseUnixEndpoint(std::string_view endpoint);

// Makes `path` free for a new listening socket: removes a socket file nobody listens
// on. FAILED_PRECONDITION when another process is serving there or the path is not a
// socket (nothing is removed then); NOT_FOUND when the parent directory is missing.
absl::Status PrepareSocketPath(const std::string& path);

class GrpcServer {
 public:
  // Starts serving `services` (not owned; they must outlive the server) on a Unix
  // socket at `socket_path` created with mode 0660, with `interceptors` installed.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> StartOnUnixSocket(
      const std::string& socket_path, const std::vector<grpc::Service*>& services,
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
          interceptors);

  // Stops accepting calls, lets in-flight calls finish for up to `drain`, cancels what
  // is still running, and removes the socket file. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

  ~GrpcServer();

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, std::string socket_path)
      : server_(std::move(server)), socket_path_(std::move(socket_path)) {}

  std::unique_ptr<grpc::Server> server_;
  std::string socket_path_;
  bool stopped_ = false;
};

}  // namespace cloak::csi
