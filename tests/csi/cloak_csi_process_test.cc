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
#include "tests/csi/test_support.h"

namespace cloak::csi {
namespace {

using cloak::testing::TempDir;
using Type = ::csi::v1::PluginCapability::Service::Type;

// ctest passes CLOAK_BINARY_DIR; run by hand, the binary sits two levels above the test.
std::string PluginBinary() {
  if (const char* dir = std::getenv("CLOAK_BINARY_DIR")) return std::string(dir) + "/csi/cloak-csi";
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path().parent_path() / "csi" / "cloak-csi").string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// One cloak-csi process; stderr goes to a file in the test's directory.
class PluginProcess {
 public:
  PluginProcess(const std::vector<std::string>& args, const std::string& stderr_path,
                const std::string& fault_points = "") {
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, STDERR_FILENO);
      if (!fault_points.empty()) setenv("CLOAK_FAULT_POINTS", fault_points.c_str(), 1);
      std::vector<char*> argv;
      const std::string binary = PluginBinary();
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }
  ~PluginProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits for the process to exit; returns its exit code, or -signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  void Signal(int signal_number) { kill(pid_, signal_number); }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

// True once a process accepts connections on the socket at `path`.
bool WaitForSocket(const std::string& path) {
  for (int i = 0; i < 400; ++i) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    if (connected) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

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
      types.push_back(capability.service().type());
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
  auto process = Launch("controller", dir_.path());
  EXPECT_EQ(
      Capabilities(),
      (std::vector<Type>{::csi::v1::PluginCapability::Service::CONTROLLER_SERVICE,
                         ::csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}));
  EXPECT_TRUE(ProbeReady());
  process->Signal(SIGINT);
  EXPECT_EQ(process->Wait(), 0);
  const std::string log = ReadFile(log_path());
  EXPECT_NE(log.find("/csi.v1.Identity/Probe"), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos) << log;
}

TEST_F(CloakCsiProcessTest, ProbeIsNotReadyWithoutItsStateDirectory) {
  auto process = Launch("controller", dir_.path() + "/missing");
  EXPECT_FALSE(ProbeReady());
  EXPECT_NE(ReadFile(log_path()).find("state directory"), std::string::npos);
}

TEST_F(CloakCsiProcessTest, ReplacesAStaleSocketAndCreatesItWithMode0660) {
  {
    auto first = Launch("controller", dir_.path());
    first->Signal(SIGKILL);  // Leaves its socket file behind.
    first->Wait();
  }
  struct stat st {};
  ASSERT_EQ(stat(socket().c_str(), &st), 0) << "the killed process left a stale socket";
  auto second = Launch("controller", dir_.path());
  ASSERT_EQ(stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_TRUE(ProbeReady());
}

TEST_F(CloakCsiProcessTest, SigtermDrainsACallInFlight) {
  auto process = Launch("controller", dir_.path(), "identity.probe=delay:1500");
  auto* stub = Identity();
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    ::csi::v1::ProbeResponse response;
    const grpc::Status status = stub->Probe(&context, {}, &response);
    return status.ok() && response.ready().value();
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
  const std::vector<Case> cases = {
      {{"--mode", "node", "--node-id", "n"}, "--endpoint"},
      {{"--endpoint", ok_endpoint, "--mode", "storage", "--node-id", "n"}, "storage"},
      {{"--endpoint", "tcp://127.0.0.1:1", "--mode", "node", "--node-id", "n"}, "Unix socket"},
      {{"--endpoint", ok_endpoint, "--mode", "node", "--node-id", "n", "--log-format", "xml"},
       "xml"},
      {{"--endpoint", "unix://" + dir_.path() + "/no/such/dir/csi.sock", "--mode", "controller",
        "--node-id", "n"},
       "does not exist"},
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
      RunToExit({"--endpoint", "unix://" + socket(), "--mode", "controller", "--node-id", "n"},
                &stderr_text),
      2);
  EXPECT_NE(stderr_text.find("not a socket"), std::string::npos) << stderr_text;
  EXPECT_EQ(ReadFile(socket()), "not a socket") << "the file must be left alone";
}

}  // namespace
}  // namespace cloak::csi
