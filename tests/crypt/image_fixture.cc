#include "tests/crypt/image_fixture.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "common/status.h"

namespace cloak::crypt::testing {

void SkipUnlessRoot() {
  if (geteuid() != 0) {
    std::cerr << "SKIPPED: needs root (libcryptsetup locking and loop-free image access)\n";
    std::exit(77);
  }
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/cloak-crypt-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::SparseFile(const std::string& name, std::uint64_t size) const {
  const std::string file = path_ + "/" + name;
  const int fd = open(file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) std::abort();
  close(fd);
  return file;
}

absl::StatusOr<int> RunProcess(const std::vector<std::string>& argv, std::string* out,
                               std::string* err) {
  char out_path[] = "/tmp/cloak-out-XXXXXX";
  char err_path[] = "/tmp/cloak-err-XXXXXX";
  const int out_fd = mkstemp(out_path);
  const int err_fd = mkstemp(err_path);
  if (out_fd < 0 || err_fd < 0) return ErrnoToStatus(errno, "mkstemp");
  const pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto slurp = [](const char* path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  if (out != nullptr) *out = slurp(out_path);
  if (err != nullptr) *err = slurp(err_path);
  close(out_fd);
  close(err_fd);
  unlink(out_path);
  unlink(err_path);
  if (!WIFEXITED(status)) return absl::InternalError(argv[0] + " did not exit normally");
  return WEXITSTATUS(status);
}

absl::StatusOr<bool> FileContains(const std::string& path, std::span<const std::uint8_t> needle) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::vector<std::uint8_t> window;
  std::vector<std::uint8_t> chunk(1 << 20);
  while (in) {
    in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
    const std::size_t n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    window.insert(window.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    if (std::search(window.begin(), window.end(), needle.begin(), needle.end()) != window.end()) {
      return true;
    }
    // Keep the tail so a match across chunk borders is found.
    const std::size_t keep = std::min(window.size(), needle.size());
    window.erase(window.begin(), window.end() - static_cast<std::ptrdiff_t>(keep));
  }
  return false;
}

}  // namespace cloak::crypt::testing
