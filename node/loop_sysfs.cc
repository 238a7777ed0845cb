#include "node/loop_sysfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::node {
namespace {

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(path.c_str()), closedir);
  if (!dir) return ErrnoToStatus(errno, "list " + path);
  std::vector<std::string> names;
  while (const dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
  }
  return names;
}

// Where the filesystem on loop device `number` is mounted in this mount namespace.
std::vector<std::string> MountPoints(int number) {
  std::vector<std::string> found;
  auto dev = ReadSysfsAttribute(LoopSysfsPath(number, "dev"));  // "7:N"
  if (!dev.ok()) return found;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // "<id> <parent> <major:minor> <root> <mount point> ..."
    std::istringstream fields(line);
    std::string id, parent, major_minor, root, mount_point;
    fields >> id >> parent >> major_minor >> root >> mount_point;
    if (major_minor == *dev) found.push_back("a filesystem mounted at " + mount_point);
  }
  return found;
}

}  // namespace

std::string LoopDevicePath(int number) { return fmt::format("/dev/loop{}", number); }

std::string LoopSysfsPath(int number, std::string_view attribute) {
  return fmt::format("/sys/block/loop{}/{}", number, attribute);
}

absl::StatusOr<std::string> ReadSysfsAttribute(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "read " + path);
  std::string value;
  char buffer[4096];
  int error_number = 0;
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error_number = errno;
    if (n <= 0) break;
    value.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  if (error_number != 0) return ErrnoToStatus(error_number, "read " + path);
  if (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

absl::StatusOr<std::vector<int>> LoopDeviceNumbers() {
  auto names = ListDirectory("/sys/block");
  if (!names.ok()) return Annotate(names.status(), "loop devices (is sysfs mounted?)");
  std::vector<int> numbers;
  for (const std::string& name : *names) {
    if (!name.starts_with("loop")) continue;
    int number = 0;
    const char* end = name.data() + name.size();
    const auto [next, error] = std::from_chars(name.data() + 4, end, number);
    if (error == std::errc() && next == end) numbers.push_back(number);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

bool LoopDeviceBound(int number) {
  return access(LoopSysfsPath(number, "loop").c_str(), F_OK) == 0;
}

std::string LoopDeviceHolders(int number) {
  std::vector<std::string> found;
  if (auto holders = ListDirectory(LoopSysfsPath(number, "holders")); holders.ok()) {
    for (const std::string& holder : *holders) {
      auto name = ReadSysfsAttribute(fmt::format("/sys/block/{}/dm/name", holder));
      found.push_back(name.ok() ? fmt::format("device-mapper device {} ({})", *name, holder)
                                : holder);
    }
  }
  if (found.empty()) found = MountPoints(number);
  if (found.empty()) return "an exclusive opener (a mount in another mount namespace?)";
  std::string joined = found.front();
  for (std::size_t i = 1; i < found.size(); ++i) joined += ", " + found[i];
  return joined;
}

absl::StatusOr<LoopDevice> DescribeLoopDevice(int number) {
  ASSIGN_OR_RETURN(std::string dio, ReadSysfsAttribute(LoopSysfsPath(number, "loop/dio")));
  const std::string block_path = LoopSysfsPath(number, "queue/logical_block_size");
  ASSIGN_OR_RETURN(std::string block, ReadSysfsAttribute(block_path));
  LoopDevice device{LoopDevicePath(number), dio == "1", 0};
  const char* end = block.data() + block.size();
  const auto [next, error] = std::from_chars(block.data(), end, device.logical_block_size);
  if (error != std::errc() || next != end) {
    return absl::InternalError(fmt::format("{} holds \"{}\", not a number", block_path, block));
  }
  return device;
}

}  // namespace cloak::node
