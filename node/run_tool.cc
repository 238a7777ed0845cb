#include "node/run_tool.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "common/status.h"
#include "common/unique_fd.h"
#include "fmt/format.h"

namespace cloak::node {
namespace {

constexpr std::size_t kOutputTail = 2048;

// posix_spawn's file actions and attributes, destroyed on every return path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
  }
};

// The child's descriptors: the pipe on 1 and 2 (before 0, in case the pipe itself got a
// low number), /dev/null on 0, nothing from 3 up. Its signals: default dispositions (the
// caller may ignore SIGPIPE) and nothing blocked (gRPC threads block some).
int Prepare(SpawnSetup& setup, int output_fd) {
  int r = 0;
  if ((r = posix_spawn_file_actions_adddup2(&setup.actions, output_fd, STDOUT_FILENO)) != 0 ||
      (r = posix_spawn_file_actions_adddup2(&setup.actions, output_fd, STDERR_FILENO)) != 0 ||
      (r = posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY,
                                            0)) != 0 ||
      (r = posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1)) != 0) {
    return r;
  }
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  if ((r = posix_spawnattr_setsigmask(&setup.attributes, &none)) != 0 ||
      (r = posix_spawnattr_setsigdefault(&setup.attributes, &all)) != 0 ||
      (r = posix_spawnattr_setflags(&setup.attributes,
                                    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0) {
    return r;
  }
  return 0;
}

// Reads `fd` to its end, keeping the last kOutputTail bytes, cut at a line start when
// something was dropped.
std::string ReadTail(int fd) {
  std::string tail;
  bool dropped = false;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    tail.append(buffer, static_cast<std::size_t>(n));
    if (tail.size() > 2 * kOutputTail) {
      tail.erase(0, tail.size() - kOutputTail);
      dropped = true;
    }
  }
  if (tail.size() > kOutputTail) {
    tail.erase(0, tail.size() - kOutputTail);
    dropped = true;
  }
  if (dropped) {
    const std::size_t newline = tail.find('\n');
    if (newline != std::string::npos && newline + 1 < tail.size()) tail.erase(0, newline + 1);
  }
  return tail;
}

}  // namespace

std::string CommandLine(const std::string& program, const std::vector<std::string>& args) {
  std::string line = program;
  for (const std::string& arg : args) line += " " + arg;
  return line;
}

absl::StatusOr<ToolResult> RunTool(const std::string& program,
                                   const std::vector<std::string>& args) {
  const std::string command = CommandLine(program, args);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return ErrnoToStatus(errno, fmt::format("create the output pipe for `{}`", command));
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  char path_variable[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char locale_variable[] = "LC_ALL=C";
  char* envp[] = {path_variable, locale_variable, nullptr};

  SpawnSetup setup;
  if (int r = Prepare(setup, write_end.get()); r != 0) {
    return ErrnoToStatus(r, fmt::format("prepare to run `{}`", command));
  }
  pid_t pid = -1;
  if (int r =
          posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attributes, argv.data(), envp);
      r != 0) {
    return ErrnoToStatus(r, fmt::format("start `{}`", command));
  }
  write_end.Close();  // so that the read below ends when the child exits

  ToolResult result;
  result.output = ReadTail(read_end.get());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoToStatus(errno, fmt::format("wait for `{}`", command));
  }
  if (WIFEXITED(status)) {
    result.exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace cloak::node
