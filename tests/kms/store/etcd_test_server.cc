#include "tests/kms/store/etcd_test_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "kms/store/etcd/client.h"

namespace cloak::kms {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);

// A port on 127.0.0.1 that was free a moment ago (the kernel picks it for port 0).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::string FindEtcd() {
  if (const char* configured = std::getenv("CLOAK_ETCD"); configured != nullptr) {
    return access(configured, X_OK) == 0 ? configured : "";
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/etcd";
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::unique_ptr<EtcdTestServer>& SharedServer() {
  static std::unique_ptr<EtcdTestServer> server;
  return server;
}

class SharedEtcdEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EtcdTestServer>> server = EtcdTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    SharedServer() = *std::move(server);
  }
  void TearDown() override { SharedServer().reset(); }
};

[[maybe_unused]] ::testing::Environment* const kSharedEtcd =
    ::testing::AddGlobalTestEnvironment(new SharedEtcdEnvironment);

}  // namespace

EtcdTestServer& SharedEtcd() {
  if (!SharedServer()) std::abort();  // the environment failed: no test runs
  return *SharedServer();
}

std::string UniqueEtcdPrefix() {
  static std::atomic<int> next{0};
  return fmt::format("/cloak-test/{}/{}/", getpid(), next++);
}

absl::StatusOr<std::unique_ptr<EtcdTestServer>> EtcdTestServer::Start() {
  std::string binary = FindEtcd();
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "etcd is not installed (neither $CLOAK_ETCD nor `etcd` on PATH); the etcd key store "
        "tests need it: run scripts/install-deps (Debian package etcd-server)");
  }
  std::unique_ptr<EtcdTestServer> server(new EtcdTestServer(binary));
  absl::Status status;
  // Another process may take a port between FreePort() and etcd's bind: try afresh.
  for (int attempt = 0; attempt < 3; ++attempt) {
    server->client_port_ = FreePort();
    server->peer_port_ = FreePort();
    if (server->client_port_ == 0 || server->peer_port_ == 0 ||
        server->client_port_ == server->peer_port_) {
      continue;
    }
    std::error_code ignored;
    std::filesystem::remove_all(server->dir_.File("data"), ignored);
    status = server->Launch();
    if (status.ok()) status = server->WaitUntilHealthy();
    if (status.ok()) return server;
    server->Stop();
  }
  return status;
}

EtcdTestServer::~EtcdTestServer() { Stop(); }

std::string EtcdTestServer::endpoint() const { return fmt::format("127.0.0.1:{}", client_port_); }

absl::Status EtcdTestServer::Launch() {
  std::string client_url = fmt::format("http://127.0.0.1:{}", client_port_);
  std::string peer_url = fmt::format("http://127.0.0.1:{}", peer_port_);
  std::vector<std::string> args = {
      binary_,
      "--name=cloak-test",
      "--data-dir=" + dir_.File("data"),
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=cloak-test=" + peer_url,
      "--initial-cluster-state=new",
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-level=warn",
  };
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string log = dir_.File("etcd.log");
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed while starting etcd");
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the test process has threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  return absl::OkStatus();
}

absl::Status EtcdTestServer::WaitUntilHealthy() {
  absl::StatusOr<std::unique_ptr<etcd::Client>> client =
      etcd::Client::Create(etcd::ConnectionOptions{{endpoint()}, "", "", ""});
  if (!client.ok()) return client.status();
  etcdserverpb::RangeRequest probe;
  probe.set_key("/cloak-test-health");
  absl::Time give_up = absl::Now() + kStartTimeout;
  absl::Status last;
  while (absl::Now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          fmt::format("etcd exited while starting (status {}); its log:\n{}", status, LogTail()));
    }
    // A linearizable read answers only once the member has elected itself leader.
    last = (*client)->Range(probe, absl::Now() + absl::Milliseconds(500), "probing etcd").status();
    if (last.ok()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::UnavailableError(fmt::format("etcd did not answer within {} ({}); its log:\n{}",
                                            absl::FormatDuration(kStartTimeout),
                                            std::string(last.message()), LogTail()));
}

void EtcdTestServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  absl::Time give_up = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = -1;
}

absl::Status EtcdTestServer::Restart() {
  Stop();
  absl::Status status = Launch();
  if (status.ok()) status = WaitUntilHealthy();
  return status;
}

std::string EtcdTestServer::LogTail() const {
  std::ifstream in(dir_.File("etcd.log"));
  std::string text(std::istreambuf_iterator<char>(in), {});
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

}  // namespace cloak::kms
