#include "csi/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "csi/csi.grpc.pb.h"
#include "csi/logging_interceptor.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/csi/test_support.h"

namespace cloak::csi {
namespace {

using cloak::testing::CapturedLog;
using cloak::testing::TempDir;

constexpr char kMarker[] = "MARKER-never-in-logs-7f3a";

// A Node service whose calls can be held in flight.
class SlowNodeService final : public ::csi::v1::Node::Service {
 public:
  explicit SlowNodeService(std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : delay_(delay) {}
  grpc::Status NodeStageVolume(grpc::ServerContext*, const ::csi::v1::NodeStageVolumeRequest*,
                               ::csi::v1::NodeStageVolumeResponse*) override {
    std::this_thread::sleep_for(delay_);
    return grpc::Status::OK;
  }
  grpc::Status NodeUnstageVolume(grpc::ServerContext*, const ::csi::v1::NodeUnstageVolumeRequest*,
                                 ::csi::v1::NodeUnstageVolumeResponse*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "volume vol-9 is not staged");
  }

 private:
  std::chrono::milliseconds delay_;
};

std::unique_ptr<GrpcServer> Start(const std::string& path, grpc::Service* service,
                                  std::shared_ptr<Logger> logger) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<LoggingInterceptorFactory>(std::move(logger)));
  auto server = GrpcServer::StartOnUnixSocket(path, {service}, std::move(factories));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<::csi::v1::Node::Stub> Client(const std::string& path) {
  return ::csi::v1::Node::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
}

::csi::v1::NodeStageVolumeRequest StageRequest() {
  ::csi::v1::NodeStageVolumeRequest request;
  request.set_volume_id("vol-9");
  request.set_staging_target_path("/staging/vol-9");
  (*request.mutable_secrets())["key"] = kMarker;
  (*request.mutable_volume_context())["integrity"] = "hmac-sha256";
  request.mutable_volume_capability()->mutable_mount()->set_fs_type("xfs");
  return request;
}

TEST(ParseUnixEndpointTest, AcceptsUnixSchemesOnly) {
  EXPECT_EQ(*ParseUnixEndpoint("unix:///csi/csi.sock"), "/csi/csi.sock");
  EXPECT_EQ(*ParseUnixEndpoint("unix:/csi/csi.sock"), "/csi/csi.sock");
  for (const char* bad :
       {"", "tcp://127.0.0.1:10000", "unix://", "unix:relative.sock", "/csi/csi.sock"}) {
    EXPECT_EQ(ParseUnixEndpoint(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ParseUnixEndpoint("unix://" + std::string(200, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PrepareSocketPathTest, RemovesStaleSocketsOnly) {
  TempDir dir;
  // A stale socket: bound, then its owner went away.
  const std::string stale = dir.path() + "/stale.sock";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, stale.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  close(fd);
  EXPECT_TRUE(PrepareSocketPath(stale).ok());
  struct stat st {};
  EXPECT_NE(lstat(stale.c_str(), &st), 0) << "stale socket should be gone";

  // A regular file is never removed.
  const std::string file = dir.path() + "/data";
  std::ofstream(file) << "keep me";
  EXPECT_EQ(PrepareSocketPath(file).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(lstat(file.c_str(), &st), 0);

  EXPECT_EQ(PrepareSocketPath(dir.path() + "/missing/csi.sock").code(),
            absl::StatusCode::kNotFound);
}

TEST(GrpcServerTest, RefusesAnEndpointSomeoneServes) {
  TempDir dir;
  CapturedLog log;
  SlowNodeService service;
  const std::string path = dir.path() + "/csi.sock";
  auto first = Start(path, &service, log.logger());
  ASSERT_NE(first, nullptr);
  SlowNodeService other;
  auto second = GrpcServer::StartOnUnixSocket(path, {&other}, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(GrpcServerTest, SocketHasMode0660) {
  TempDir dir;
  CapturedLog log;
  SlowNodeService service;
  const std::string path = dir.path() + "/csi.sock";
  auto server = Start(path, &service, log.logger());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST(LoggingInterceptorTest, LogsCallsWithoutSecrets) {
  TempDir dir;
  CapturedLog log;
  SlowNodeService service;
  const std::string path = dir.path() + "/csi.sock";
  auto server = Start(path, &service, log.logger());
  auto client = Client(path);
  {
    grpc::ClientContext context;
    ::csi::v1::NodeStageVolumeResponse response;
    ASSERT_TRUE(client->NodeStageVolume(&context, StageRequest(), &response).ok());
  }
  {
    grpc::ClientContext context;
    ::csi::v1::NodeUnstageVolumeRequest request;
    request.set_volume_id("vol-9");
    ::csi::v1::NodeUnstageVolumeResponse response;
    EXPECT_EQ(client->NodeUnstageVolume(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  server->Shutdown(std::chrono::milliseconds(100));

  const std::string text = log.text();
  EXPECT_EQ(text.find(kMarker), std::string::npos) << text;
  EXPECT_NE(text.find("/csi.v1.Node/NodeStageVolume"), std::string::npos) << text;
  EXPECT_NE(text.find("\"volume_id\":\"vol-9\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"code\":\"OK\""), std::string::npos);
  EXPECT_NE(text.find("duration_ms"), std::string::npos);
  // The rest of the request is logged (at debug level), only the secret is gone.
  EXPECT_NE(text.find("/staging/vol-9"), std::string::npos);
  EXPECT_NE(text.find("hmac-sha256"), std::string::npos);
  EXPECT_NE(text.find("xfs"), std::string::npos);
  // Failures carry their code and message.
  EXPECT_NE(text.find("\"code\":\"NOT_FOUND\""), std::string::npos);
  EXPECT_NE(text.find("volume vol-9 is not staged"), std::string::npos);
}

TEST(GrpcServerTest, ShutdownDrainsACallInFlight) {
  TempDir dir;
  CapturedLog log;
  SlowNodeService service(std::chrono::milliseconds(800));
  const std::string path = dir.path() + "/csi.sock";
  auto server = Start(path, &service, log.logger());
  auto client = Client(path);
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    ::csi::v1::NodeStageVolumeResponse response;
    return client->NodeStageVolume(&context, StageRequest(), &response).error_code();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server->Shutdown(std::chrono::seconds(5));
  EXPECT_EQ(call.get(), grpc::StatusCode::OK);
  struct stat st {};
  EXPECT_NE(stat(path.c_str(), &st), 0) << "socket removed after shutdown";
}

TEST(GrpcServerTest, DrainIsBounded) {
  TempDir dir;
  CapturedLog log;
  SlowNodeService service(std::chrono::milliseconds(3000));
  const std::string path = dir.path() + "/csi.sock";
  auto server = Start(path, &service, log.logger());
  auto client = Client(path);
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    ::csi::v1::NodeStageVolumeResponse response;
    return client->NodeStageVolume(&context, StageRequest(), &response).error_code();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  server->Shutdown(std::chrono::milliseconds(200));
  // The cancelled call's client sees a non-OK code; the handler thread itself finishes
  // its sleep, which Shutdown waits for, so the bound is the handler's remaining time.
  EXPECT_NE(call.get(), grpc::StatusCode::OK);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace cloak::csi
