#pragma once

// cloak-csi as a child process for the tests that drive the real binary: start it with
// arguments and fault points, wait for its socket, signal it, read its log.

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cloak::testing {

// ctest passes CLOAK_BINARY_DIR; run by hand, the binary sits two levels above the test.
inline std::string PluginBinary() {
  if (const char* dir = std::getenv("CLOAK_BINARY_DIR")) return std::string(dir) + "/csi/cloak-csi";
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path().parent_path() / "csi" / "cloak-csi").string();
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// One cloak-csi process; stderr goes to a file in the test's directory. Killed with
// SIGKILL when destroyed still running.
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
inline bool WaitForSocket(const std::string& path) {
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

}  // namespace cloak::testing
