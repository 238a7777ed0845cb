#include "tests/attest/tpm/swtpm_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "fmt/format.h"

namespace cloak::attest::tpm::testing {
namespace {

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Runs argv with stdout/stderr sent to `log`; its exit status, or -1.
int Run(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    FILE* out = std::fopen(log.c_str(), "a");
    if (out != nullptr) {
      dup2(fileno(out), 1);
      dup2(fileno(out), 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A port P such that P and P+1 were both free a moment ago.
int FreePortPair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      close(fd);
      continue;
    }
    const int port = ntohs(addr.sin_port);
    close(fd);
    if (port >= 65535) continue;
    const int next = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_port = htons(static_cast<std::uint16_t>(port + 1));
    const bool free = bind(next, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(next);
    if (free) return port;
  }
  return 0;
}

bool Listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

bool Swtpm::Available() {
  return OnPath("swtpm") && OnPath("swtpm_setup") && OnPath("swtpm_localca") && OnPath("openssl");
}

absl::StatusOr<std::unique_ptr<Swtpm>> Swtpm::Start(SwtpmOptions options) {
  if (!Available()) {
    return absl::UnavailableError("swtpm, swtpm_setup, swtpm_localca or openssl is not installed");
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "cloak-swtpm-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return absl::UnavailableError("mkdtemp failed");
  const std::string dir = tmpl;
  const std::string ca = dir + "/ca";
  const std::string state = dir + "/state";
  std::filesystem::create_directories(ca);
  std::filesystem::create_directories(state);
  const std::string log = dir + "/setup.log";

  // The CA: a P-256 key and a self-signed CA certificate.
  if (Run({"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
           ca + "/signkey.pem"},
          log) != 0 ||
      Run({"openssl", "req", "-new", "-x509", "-key", ca + "/signkey.pem", "-out",
           ca + "/issuercert.pem", "-days", "30", "-subj", "/CN=" + options.ca_common_name,
           "-addext", "basicConstraints=critical,CA:true", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"},
          log) != 0) {
    return absl::UnavailableError(fmt::format("creating the test CA failed; see {}", log));
  }
  WriteFile(ca + "/certserial", "1\n");
  WriteFile(ca + "/localca.conf", fmt::format("statedir = {0}\nsigningkey = {0}/signkey.pem\n"
                                              "issuercert = {0}/issuercert.pem\n"
                                              "certserial = {0}/certserial\n",
                                              ca));
  WriteFile(ca + "/localca.options", "");
  WriteFile(ca + "/setup.conf", fmt::format("create_certs_tool = /usr/bin/swtpm_localca\n"
                                            "create_certs_tool_config = {0}/localca.conf\n"
                                            "create_certs_tool_options = {0}/localca.options\n"
                                            "active_pcr_banks = sha256\n",
                                            ca));
  if (Run({"swtpm_setup", "--tpm2", "--tpmstate", state, "--create-ek-cert", "--config",
           ca + "/setup.conf", "--overwrite", "--pcr-banks", "sha256"},
          log) != 0) {
    return absl::UnavailableError(fmt::format("swtpm_setup failed; see {}", log));
  }
  std::unique_ptr<Swtpm> tpm(new Swtpm(dir, ReadFile(ca + "/issuercert.pem")));
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (tpm->Launch().ok()) return tpm;
  }
  return absl::UnavailableError(fmt::format("swtpm did not start listening; see {}", dir));
}

absl::Status Swtpm::Launch() {
  port_ = FreePortPair();
  if (port_ == 0) return absl::UnavailableError("no free port pair");
  const std::string log = dir_ + "/swtpm.log";
  const std::vector<std::string> argv = {
      "swtpm",
      "socket",
      "--tpm2",
      "--server",
      fmt::format("type=tcp,port={},bindaddr=127.0.0.1", port_),
      "--ctrl",
      fmt::format("type=tcp,port={},bindaddr=127.0.0.1", port_ + 1),
      "--flags",
      "not-need-init,startup-clear",
      "--tpmstate",
      "dir=" + dir_ + "/state",
      "--log",
      "file=" + log};
  pid_ = fork();
  if (pid_ < 0) return absl::UnavailableError("fork failed");
  if (pid_ == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError("swtpm exited at start");
    }
    if (Listening(port_)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return absl::UnavailableError("swtpm did not listen in time");
}

Swtpm::~Swtpm() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string Swtpm::TctiConf() const { return fmt::format("swtpm:host=127.0.0.1,port={}", port_); }

absl::Status Swtpm::ExtendPcr(std::uint32_t pcr, std::span<const std::uint8_t> data) {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  if (Tss2_TctiLdr_Initialize(TctiConf().c_str(), &tcti) != TSS2_RC_SUCCESS) {
    return absl::UnavailableError("cannot connect to swtpm");
  }
  ESYS_CONTEXT* esys = nullptr;
  TSS2_RC rc = Esys_Initialize(&esys, tcti, nullptr);
  if (rc == TSS2_RC_SUCCESS) {
    TPML_DIGEST_VALUES digests = {};
    digests.count = 1;
    digests.digests[0].hashAlg = TPM2_ALG_SHA256;
    SHA256(data.data(), data.size(), digests.digests[0].digest.sha256);
    rc = Esys_PCR_Extend(esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &digests);
    Esys_Finalize(&esys);
  }
  Tss2_TctiLdr_Finalize(&tcti);
  if (rc != TSS2_RC_SUCCESS) return absl::InternalError(fmt::format("PCR_Extend rc 0x{:x}", rc));
  return absl::OkStatus();
}

}  // namespace cloak::attest::tpm::testing
