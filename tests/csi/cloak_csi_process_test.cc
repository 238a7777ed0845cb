// cloak-csi as a real process on a temporary Unix socket, driven by a gRPC client.

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "csi/csi.grpc.pb.h"
#include "csi/readiness.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/csi/plugin_process.h"
#include "tests/csi/test_support.h"

namespace cloak::csi {
namespace {

using cloak::testing::PluginProcess;
using cloak::testing::ReadFile;
using cloak::testing::TempDir;
using cloak::testing::WaitForSocket;
using Type = ::csi::v1::PluginCapability::Service::Type;

class CloakCsiProcessTest : public ::testing::Test {
 protected:
  std::string socket() const { return dir_.path() + "/csi.sock"; }
  std::string log_path() const { return dir_.path() + "/stderr.log"; }

  std::unique_ptr<PluginProcess> Launch(const std::string& mode, const std::string& state_dir,
                                        const std::string& faults = "",
                                        const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--endpoint",      "unix://" + socket(),
                                     "--mode",          mode,
                                     "--node-id",       "node-a",
                                     "--state-dir",     state_dir,
                                     "--log-format",    "json",
                                     "--drain-timeout", "10"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto process = std::make_unique<PluginProcess>(args, log_path(), faults);
    EXPECT_TRUE(WaitForSocket(socket())) << ReadFile(log_path());
    return process;
  }

  // One channel per test, as a CSI sidecar would hold it.
  ::csi::v1::Identity::Stub* Identity() {
    if (stub_ == nullptr) {
      stub_ = ::csi::v1::Identity::NewStub(
          grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
    }
    return stub_.get();
  }

  std::vector<Type> Capabilities() {
    grpc::ClientContext context;
    ::csi::v1::GetPluginCapabilitiesResponse response;
    EXPECT_TRUE(Identity()->GetPluginCapabilities(&context, {}, &response).ok());
    std::vector<Type> types;
    for (const auto& capability : response.capabilities()) {
      if (capability.has_service()) types.push_back(capability.service().type());
    }
    return types;
  }

  bool ProbeReady() {
    grpc::ClientContext context;
    ::csi::v1::ProbeResponse response;
    EXPECT_TRUE(Identity()->Probe(&context, {}, &response).ok());
    EXPECT_TRUE(response.has_ready());
    return response.ready().value();
  }

  int RunToExit(const std::vector<std::string>& args, std::string* stderr_text) {
    PluginProcess process(args, log_path());
    const int code = process.Wait();
    *stderr_text = ReadFile(log_path());
    return code;
  }

  TempDir dir_;
  std::unique_ptr<::csi::v1::Identity::Stub> stub_;
};

// The node's key service settings, pointing at a port nothing listens on, with the
// development attester (this host has no TEE).
std::vector<std::string> NodeFlags(const std::string& dir) {
  return {
      "--kms-address",
      "127.0.0.1:1",
      "--kms-ca-file",
      std::string(std::getenv("CLOAK_SOURCE_DIR")) + "/tests/attest/testdata/snp/ask_ark_milan.pem",
      "--attester",
      "none",
      "--insecure-allow-unattested",
      "--insecure-identity",
      "node/node-a",
      "--local-dir",
      dir};
}

// The controller's: the same unreachable key service, its own local backend directory.
std::vector<std::string> ControllerFlags(const std::string& dir) {
  std::vector<std::string> flags = NodeFlags(dir + "/local");
  flags.erase(flags.begin() + 7, flags.begin() + 9);  // --insecure-identity node/node-a
  return flags;
}

TEST_F(CloakCsiProcessTest, NodeModeAnswersIdentity) {
  auto process = Launch("node", dir_.path(), "", NodeFlags(dir_.path()));
  grpc::ClientContext context;
  ::csi::v1::GetPluginInfoResponse info;
  ASSERT_TRUE(Identity()->GetPluginInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.name(), "cloak.csi.dev");
  EXPECT_FALSE(info.vendor_version().empty());
  EXPECT_EQ(
      Capabilities(),
      std::vector<Type>{::csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS});
  // Not ready: no key service answers at 127.0.0.1:1 (and this kernel may lack
  // device-mapper, which is checked first).
  EXPECT_FALSE(ProbeReady());
  const std::string log = ReadFile(log_path());
  EXPECT_TRUE(log.find("127.0.0.1:1") != std::string::npos ||
              log.find("device-mapper is not available") != std::string::npos)
      << log;
  process->Signal(SIGTERM);
  EXPECT_EQ(process->Wait(), 0);
}

TEST_F(CloakCsiProcessTest, ControllerModeAnswersIdentity) {
  auto process = Launch("controller", dir_.path(), "", ControllerFlags(dir_.path()));
  EXPECT_EQ(
      Capabilities(),
      (std::vector<Type>{::csi::v1::PluginCapability::Service::CONTROLLER_SERVICE,
                         ::csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}));
  // Not ready: no key service answers at 127.0.0.1:1.
  EXPECT_FALSE(ProbeReady());
  process->Signal(SIGINT);
  EXPECT_EQ(process->Wait(), 0);
  const std::string log = ReadFile(log_path());
  EXPECT_NE(log.find("/csi.v1.Identity/Probe"), std::string::npos) << log;
  EXPECT_NE(log.find("127.0.0.1:1"), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos) << log;
}

TEST_F(CloakCsiProcessTest, ProbeIsNotReadyWithoutItsStateDirectory) {
  auto process = Launch("controller", dir_.path() + "/missing", "", ControllerFlags(dir_.path()));
  EXPECT_FALSE(ProbeReady());
  EXPECT_NE(ReadFile(log_path()).find("state directory"), std::string::npos);
}

TEST_F(CloakCsiProcessTest, ReplacesAStaleSocketAndCreatesItWithMode0660) {
  {
    auto first = Launch("controller", dir_.path(), "", ControllerFlags(dir_.path()));
    first->Signal(SIGKILL);  // Leaves its socket file behind.
    first->Wait();
  }
  struct stat st {};
  ASSERT_EQ(stat(socket().c_str(), &st), 0) << "the killed process left a stale socket";
  auto second = Launch("controller", dir_.path(), "", ControllerFlags(dir_.path()));
  ASSERT_EQ(stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  grpc::ClientContext context;
  ::csi::v1::GetPluginInfoResponse info;
  EXPECT_TRUE(Identity()->GetPluginInfo(&context, {}, &info).ok());
}

TEST_F(CloakCsiProcessTest, SigtermDrainsACallInFlight) {
  auto process =
      Launch("controller", dir_.path(), "identity.probe=delay:1500", ControllerFlags(dir_.path()));
  auto* stub = Identity();
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    ::csi::v1::ProbeResponse response;
    const grpc::Status status = stub->Probe(&context, {}, &response);
    return status.ok() && response.has_ready();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  process->Signal(SIGTERM);
  EXPECT_TRUE(call.get()) << "the in-flight Probe must complete";
  EXPECT_EQ(process->Wait(), 0);
  // After shutdown the endpoint is gone: a new call fails.
  auto fresh = ::csi::v1::Identity::NewStub(
      grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  ::csi::v1::ProbeResponse response;
  EXPECT_FALSE(fresh->Probe(&context, {}, &response).ok());
}

TEST_F(CloakCsiProcessTest, BadFlagsExitWithCodeTwoAndOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::string ok_endpoint = "unix://" + socket();
  const std::string ca_file = NodeFlags("")[3];
  const std::vector<Case> cases = {
      {{"--mode", "node", "--node-id", "n"}, "--endpoint"},
      {{"--endpoint", ok_endpoint, "--mode", "storage", "--node-id", "n"}, "storage"},
      {{"--endpoint", "tcp://127.0.0.1:1", "--mode", "node", "--node-id", "n"}, "Unix socket"},
      {{"--endpoint", ok_endpoint, "--mode", "node", "--node-id", "n", "--log-format", "xml"},
       "xml"},
      {{"--endpoint", "unix://" + dir_.path() + "/no/such/dir/csi.sock", "--mode", "node",
        "--node-id", "n", "--kms-address", "127.0.0.1:1", "--kms-ca-file", ca_file, "--attester",
        "none", "--insecure-allow-unattested", "--local-dir", dir_.path()},
       "does not exist"},
      {{"--endpoint", ok_endpoint, "--mode", "controller", "--node-id", "n"}, "--kms-address"},
      {{"--endpoint", ok_endpoint, "--mode", "controller", "--node-id", "n", "--kms-address",
        "127.0.0.1:1", "--kms-ca-file", ca_file, "--attester", "none",
        "--insecure-allow-unattested", "--local-dir", "relative/dir"},
       "absolute"},
      {{"--endpoint", ok_endpoint, "--mode", "node", "--node-id", "n"}, "--kms-address"},
      {{"--endpoint", ok_endpoint, "--mode", "node", "--node-id", "n", "--kms-address",
        "127.0.0.1:1", "--attester", "quantum"},
       "quantum"},
      {{"--endpoint", ok_endpoint, "--mode", "node", "--node-id", "n", "--bogus"}, "bogus"},
  };
  for (const Case& c : cases) {
    std::string stderr_text;
    EXPECT_EQ(RunToExit(c.args, &stderr_text), 2) << c.mentions;
    EXPECT_NE(stderr_text.find(c.mentions), std::string::npos) << stderr_text;
    EXPECT_EQ(std::count(stderr_text.begin(), stderr_text.end(), '\n'), 1) << stderr_text;
  }
}

TEST_F(CloakCsiProcessTest, RefusesAnEndpointThatIsNotASocket) {
  std::ofstream(socket()) << "not a socket";
  std::string stderr_text;
  EXPECT_EQ(
      RunToExit({"--endpoint", "unix://" + socket(), "--mode", "node", "--node-id", "n",
                 "--kms-address", "127.0.0.1:1", "--kms-ca-file", NodeFlags("")[3], "--attester",
                 "none", "--insecure-allow-unattested", "--local-dir", dir_.path()},
                &stderr_text),
      2);
  EXPECT_NE(stderr_text.find("not a socket"), std::string::npos) << stderr_text;
  EXPECT_EQ(ReadFile(socket()), "not a socket") << "the file must be left alone";
}

}  // namespace
}  // namespace cloak::csi
