#include "csi/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/status.h"
#include "fmt/format.h"
#include "grpcpp/server_builder.h"

namespace cloak::csi {
namespace {

constexpr mode_t kSocketMode = 0660;

// True when a process accepts connections on the Unix socket at `path`.
bool SomeoneListens(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const bool connected =
      connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

}  // namespace

absl::StatusOr<std::string> ParseUnixEndpoint(std::string_view endpoint) {
  std::string_view path;
  if (endpoint.starts_with("unix://")) {
    path = endpoint.substr(7);
  } else if (endpoint.starts_with("unix:")) {
    path = endpoint.substr(5);
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "endpoint \"{}\" is not a Unix socket; use unix:///absolute/path/csi.sock", endpoint));
  }
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(fmt::format(
        "endpoint \"{}\" needs an absolute socket path, e.g. unix:///csi/csi.sock", endpoint));
  }
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(
        fmt::format("endpoint socket path is {} bytes long; Unix sockets allow at most {}",
                    path.size(), sizeof(sockaddr_un{}.sun_path) - 1));
  }
  return std::string(path);
}

absl::Status PrepareSocketPath(const std::string& path) {
  const std::string parent = path.substr(0, path.find_last_of('/'));
  struct stat st {};
  if (!parent.empty() && (stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
    return absl::NotFoundError(
        fmt::format("socket directory {} does not exist: create it first", parent));
  }
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus(errno, fmt::format("cannot inspect socket path {}", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("{} exists and is not a socket; remove it or choose another endpoint", path));
  }
  if (SomeoneListens(path)) {
    return absl::FailedPreconditionError(
        fmt::format("another process is serving on {}; stop it or choose another endpoint", path));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, fmt::format("cannot remove stale socket {}", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::StartOnUnixSocket(
    const std::string& socket_path, const std::vector<grpc::Service*>& services,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors) {
  RETURN_IF_ERROR(PrepareSocketPath(socket_path));

  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  // The socket is created inside BuildAndStart; a umask makes it 0660 from its first
  // moment, so there is no window in which other users could connect.
  const mode_t previous_umask = umask(0777 & ~kSocketMode);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  umask(previous_umask);
  if (server == nullptr) {
    return absl::UnavailableError(
        fmt::format("cannot listen on unix:{}: check that the directory is writable", socket_path));
  }
  if (chmod(socket_path.c_str(), kSocketMode) != 0) {
    const absl::Status status =
        ErrnoToStatus(errno, fmt::format("cannot set mode 0660 on {}", socket_path));
    server->Shutdown();
    return status;
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(server), socket_path));
}

void GrpcServer::Shutdown(std::chrono::milliseconds drain) {
  if (stopped_) return;
  stopped_ = true;
  server_->Shutdown(std::chrono::system_clock::now() + drain);
  server_->Wait();
  unlink(socket_path_.c_str());
}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::milliseconds(0)); }

}  // namespace cloak::csi
