// Host integration tests: SystemLoopDevices on the host's loop driver, with sparse
// backing files in a private directory on a disk filesystem. Needs root and
// /dev/loop-control; exits 77 (skipped) otherwise. Every test detaches what it attached,
// by raw LOOP_CLR_FD, even when it fails.

#include "node/loop_devices.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "node/loop_devices_impl.h"

namespace cloak::node {

void PrintTo(const LoopDevice& device, std::ostream* os) {
  *os << "{" << device.path << ", direct_io=" << device.direct_io
      << ", logical_block_size=" << device.logical_block_size << "}";
}

namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kFileBytes = 64ull << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// A sysfs attribute of `device` ("/dev/loopN") without its newline; nullopt when absent.
std::optional<std::string> Sysfs(const std::string& device, const std::string& attribute) {
  const std::string name = std::filesystem::path(device).filename();
  std::ifstream in("/sys/block/" + name + "/" + attribute);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  std::string value = s.str();
  if (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

// Every bound loop device and its backing file, as `losetup -a` lists them.
std::vector<std::pair<std::string, std::string>> Bindings() {
  std::vector<std::pair<std::string, std::string>> bindings;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block")) {
    const std::string name = entry.path().filename();
    if (!name.starts_with("loop")) continue;
    if (auto file = Sysfs("/dev/" + name, "loop/backing_file")) {
      bindings.emplace_back("/dev/" + name, *file);
    }
  }
  return bindings;
}

// The loop devices whose sysfs backing_file names `file` (by path, independently of the
// implementation's inode match).
std::vector<std::string> DevicesBacking(const std::string& file) {
  std::vector<std::string> devices;
  for (const auto& [device, backing] : Bindings()) {
    if (backing == file) devices.push_back(device);
  }
  return devices;
}

std::optional<loop_info64> StatusOf(const std::string& device) {
  Fd fd(open(device.c_str(), O_RDONLY | O_CLOEXEC));
  loop_info64 info{};
  if (fd.get() < 0 || ioctl(fd.get(), LOOP_GET_STATUS64, &info) != 0) return std::nullopt;
  return info;
}

bool Autoclear(const std::string& device) {
  auto info = StatusOf(device);
  return info.has_value() && (info->lo_flags & LO_FLAGS_AUTOCLEAR) != 0;
}

// Detaches, without the code under test, every loop device backing a file under `dir`,
// then waits for them to go; returns those still bound.
std::vector<std::string> ForceDetachUnder(const std::string& dir) {
  const auto ours = [&] {
    std::vector<std::string> found;
    for (const auto& [device, backing] : Bindings()) {
      if (backing.starts_with(dir + "/")) found.push_back(device);
    }
    return found;
  };
  for (const std::string& device : ours()) {
    Fd fd(open(device.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() >= 0) ioctl(fd.get(), LOOP_CLR_FD, 0UL);
  }
  for (int i = 0; i < 100 && !ours().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ours();
}

// A base directory on a disk filesystem (a loop device on tmpfs proves less).
std::string DiskTempBase() {
  std::vector<std::string> candidates;
  if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir != nullptr) candidates.push_back(tmpdir);
  candidates.insert(candidates.end(), {"/tmp", "/var/tmp"});
  for (const std::string& base : candidates) {
    struct statfs fs {};
    if (statfs(base.c_str(), &fs) == 0 && fs.f_type != TMPFS_MAGIC) return base;
  }
  return "/var/tmp";
}

class LoopDevicesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0 || access("/dev/loop-control", R_OK | W_OK) != 0) {
      std::cerr << "SKIPPED: needs root and /dev/loop-control (modprobe loop)\n";
      std::exit(77);
    }
  }

  LoopDevicesTest() : devices_(MakeSystemLoopDevices()) {
    std::string pattern = DiskTempBase() + "/cloak-loop-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
  }

  void TearDown() override {
    EXPECT_THAT(ForceDetachUnder(dir_), ::testing::IsEmpty()) << "leaked loop devices";
  }

  ~LoopDevicesTest() override {
    ForceDetachUnder(dir_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string SparseFile(const std::string& name, std::uint64_t size = kFileBytes) const {
    const std::string file = dir_ + "/" + name;
    const int fd = open(file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) std::abort();
    close(fd);
    return file;
  }

  // Whether the temp directory's filesystem takes O_DIRECT (then the device must use it).
  bool FilesystemDoesDirectIo() const {
    const std::string probe = SparseFile("direct-io-probe", 4096);
    Fd fd(open(probe.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    return fd.get() >= 0;
  }

  LoopDevice MustAttach(const std::string& file) {
    auto device = devices_->Attach(file);
    EXPECT_TRUE(device.ok()) << device.status();
    if (!device.ok()) return {};
    return *device;
  }

  std::string dir_;
  std::unique_ptr<LoopDevices> devices_;
};

// Both binding paths: LOOP_CONFIGURE and the stepwise fallback for kernels before 5.8.
class LoopBindingTest : public LoopDevicesTest, public ::testing::WithParamInterface<bool> {
 protected:
  LoopBindingTest() {
    SystemLoopDevicesOptions options;
    options.use_loop_configure = GetParam();
    devices_ = MakeSystemLoopDevices(options);
  }
};

INSTANTIATE_TEST_SUITE_P(Binding, LoopBindingTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "LoopConfigure" : "Stepwise";
                         });

TEST_P(LoopBindingTest, AttachUses4096ByteBlocksAndDirectIo) {
  const bool direct = FilesystemDoesDirectIo();
  const std::string file = SparseFile("a.img");
  auto device = devices_->Attach(file);
  ASSERT_TRUE(device.ok()) << device.status();
  ASSERT_THAT(device->path, ::testing::MatchesRegex("/dev/loop[0-9]+"));
  EXPECT_EQ(device->logical_block_size, 4096u);
  EXPECT_EQ(Sysfs(device->path, "queue/logical_block_size"), "4096");
  EXPECT_EQ(device->direct_io, direct);
  EXPECT_EQ(Sysfs(device->path, "loop/dio"), device->direct_io ? "1" : "0");
  EXPECT_EQ(Sysfs(device->path, "loop/backing_file"), file);
  EXPECT_EQ(Sysfs(device->path, "size"), std::to_string(kFileBytes / 512));
  auto info = StatusOf(device->path);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->lo_flags & LO_FLAGS_AUTOCLEAR, 0u) << "must survive the plugin's restart";
  EXPECT_EQ(info->lo_flags & LO_FLAGS_READ_ONLY, 0u);
  EXPECT_EQ(reinterpret_cast<const char*>(info->lo_file_name), file);
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
}

TEST_P(LoopBindingTest, DataWrittenThroughTheDeviceReachesTheFile) {
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  ASSERT_FALSE(device.path.empty());
  constexpr std::size_t kBytes = 64 << 10;
  constexpr off_t kOffset = 1 << 20;
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, 4096, kBytes), 0);
  std::unique_ptr<std::uint8_t, decltype(&free)> buffer(static_cast<std::uint8_t*>(raw), free);
  for (std::size_t i = 0; i < kBytes; ++i) buffer.get()[i] = static_cast<std::uint8_t>(i * 7 + 3);
  {
    Fd loop(open(device.path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
    ASSERT_GE(loop.get(), 0) << std::strerror(errno);
    ASSERT_EQ(pwrite(loop.get(), buffer.get(), kBytes, kOffset), static_cast<ssize_t>(kBytes));
    ASSERT_EQ(fsync(loop.get()), 0);
  }
  std::vector<std::uint8_t> back(kBytes);
  Fd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(pread(fd.get(), back.data(), kBytes, kOffset), static_cast<ssize_t>(kBytes));
  EXPECT_EQ(std::memcmp(back.data(), buffer.get(), kBytes), 0);
  std::vector<std::uint8_t> before(4096);
  ASSERT_EQ(pread(fd.get(), before.data(), before.size(), kOffset - 4096), 4096);
  EXPECT_EQ(before, std::vector<std::uint8_t>(4096, 0)) << "written at the wrong offset";
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
}

TEST_F(LoopDevicesTest, AttachAgainReusesTheDevice) {
  const std::string file = SparseFile("a.img");
  const LoopDevice first = MustAttach(file);
  EXPECT_EQ(MustAttach(file), first);
  EXPECT_EQ(MakeSystemLoopDevices()->Attach(file).value_or(LoopDevice{}), first);
  EXPECT_EQ(DevicesBacking(file), std::vector<std::string>{first.path});
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
}

// `blockdev --setro` on a loop device outlives its binding; a volume attached on such a
// device would fail every write with EPERM.
TEST_F(LoopDevicesTest, AttachClearsAStaleReadOnlyFlag) {
  const auto set_read_only = [](const std::string& device, int value) {
    Fd fd(open(device.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_GE(fd.get(), 0) << device;
    ASSERT_EQ(ioctl(fd.get(), BLKROSET, &value), 0) << device;
  };
  const auto read_only = [](const std::string& device) {
    Fd fd(open(device.c_str(), O_RDONLY | O_CLOEXEC));
    int value = -1;
    EXPECT_EQ(ioctl(fd.get(), BLKROGET, &value), 0) << device;
    return value;
  };
  const std::string a = SparseFile("a.img");
  const LoopDevice first = MustAttach(a);
  // Whatever happens, the device is left writable for the tests after this one.
  struct Writable {
    std::string path;
    ~Writable() {
      Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
      int value = 0;
      if (fd.get() >= 0) ioctl(fd.get(), BLKROSET, &value);
    }
  } writable{first.path};
  ASSERT_NO_FATAL_FAILURE(set_read_only(first.path, 1));
  ASSERT_EQ(read_only(first.path), 1);
  // Attaching again (a restarted stage) finds the device and clears the flag...
  EXPECT_EQ(MustAttach(a), first);
  EXPECT_EQ(read_only(first.path), 0);
  {
    Fd writer(open(first.path.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_GE(writer.get(), 0);
    const char block[512] = "cloak";
    EXPECT_EQ(pwrite(writer.get(), block, sizeof block, 0), static_cast<ssize_t>(sizeof block))
        << strerror(errno);
  }
  // ...and a free device that keeps the flag from an earlier user is cleared when bound.
  ASSERT_NO_FATAL_FAILURE(set_read_only(first.path, 1));
  ASSERT_EQ(devices_->Detach(a), absl::OkStatus());
  const LoopDevice next = MustAttach(SparseFile("b.img"));
  EXPECT_EQ(read_only(next.path), 0) << next.path;
  ASSERT_EQ(devices_->Detach(dir_ + "/b.img"), absl::OkStatus());
}

TEST_F(LoopDevicesTest, FindRecoversTheDeviceAfterARestart) {
  const std::string file = SparseFile("a.img");
  EXPECT_EQ(devices_->Find(file).status().code(), absl::StatusCode::kNotFound);
  const LoopDevice attached = MustAttach(file);
  devices_.reset();  // the plugin's process ends; the device stays
  auto restarted = MakeSystemLoopDevices();
  auto found = restarted->Find(file);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, attached);
  EXPECT_EQ(restarted->Detach(file), absl::OkStatus());
}

TEST_F(LoopDevicesTest, FindMatchesTheInodeNotThePath) {
  // Longer than lo_file_name's 64 bytes, and reached again through a hard link.
  const std::string long_dir = dir_ + "/" + std::string(80, 'd');
  ASSERT_TRUE(std::filesystem::create_directory(long_dir));
  const std::string file = long_dir + "/a.img";
  const int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_EQ(ftruncate(fd, kFileBytes), 0);
  close(fd);
  const std::string link = dir_ + "/link.img";
  ASSERT_EQ(::link(file.c_str(), link.c_str()), 0);

  const LoopDevice attached = MustAttach(file);
  EXPECT_EQ(devices_->Find(file).value_or(LoopDevice{}), attached);
  EXPECT_EQ(devices_->Find(link).value_or(LoopDevice{}), attached);
  EXPECT_EQ(devices_->Attach(link).value_or(LoopDevice{}), attached);
  EXPECT_EQ(DevicesBacking(file).size(), 1u);
  EXPECT_EQ(devices_->Detach(link), absl::OkStatus());
  EXPECT_EQ(devices_->Find(file).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(DevicesBacking(file), ::testing::IsEmpty());
}

TEST_F(LoopDevicesTest, EachFileKeepsItsOwnDevice) {
  const std::string a = SparseFile("a.img");
  const std::string b = SparseFile("b.img");
  const LoopDevice device_a = MustAttach(a);
  const LoopDevice device_b = MustAttach(b);
  EXPECT_NE(device_a.path, device_b.path);
  EXPECT_EQ(devices_->Find(a).value_or(LoopDevice{}), device_a);
  EXPECT_EQ(devices_->Find(b).value_or(LoopDevice{}), device_b);
  EXPECT_EQ(devices_->Detach(a), absl::OkStatus());
  EXPECT_EQ(DevicesBacking(b), std::vector<std::string>{device_b.path});
  EXPECT_EQ(devices_->Detach(b), absl::OkStatus());
}

TEST_F(LoopDevicesTest, RefreshCapacitySeesTheGrownFile) {
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  ASSERT_EQ(truncate(file.c_str(), 2 * kFileBytes), 0);
  EXPECT_EQ(Sysfs(device.path, "size"), std::to_string(kFileBytes / 512));
  EXPECT_EQ(devices_->RefreshCapacity(device.path), absl::OkStatus());
  EXPECT_EQ(Sysfs(device.path, "size"), std::to_string(2 * kFileBytes / 512));
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
  EXPECT_EQ(devices_->RefreshCapacity(device.path).code(), absl::StatusCode::kNotFound);
}

TEST_F(LoopDevicesTest, RefreshCapacityOfANonLoopDeviceIsNotFound) {
  EXPECT_EQ(devices_->RefreshCapacity("/dev/null").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(devices_->RefreshCapacity(dir_ + "/no-such-device").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LoopDevicesTest, DetachLeavesNoDeviceAndRepeatsAsOk) {
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
  EXPECT_EQ(devices_->Find(file).status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Sysfs(device.path, "loop/backing_file"), file);
  EXPECT_THAT(DevicesBacking(file), ::testing::IsEmpty());
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
}

TEST_F(LoopDevicesTest, DetachOfAnOpenDeviceIsUnavailableUntilItIsClosed) {
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  Fd holder(open(device.path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(holder.get(), 0);
  const absl::Status busy = devices_->Detach(file);
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable) << busy;
  EXPECT_THAT(busy.message(), HasSubstr(device.path + " is still open"));
  EXPECT_EQ(devices_->Find(file).value_or(LoopDevice{}), device);
  EXPECT_TRUE(Autoclear(device.path)) << "the kernel defers the detach to the last close";
  holder.Close();
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
  EXPECT_EQ(devices_->Find(file).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(DevicesBacking(file), ::testing::IsEmpty());
}

TEST_F(LoopDevicesTest, AttachCancelsADeferredDetach) {
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  Fd holder(open(device.path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(holder.get(), 0);
  EXPECT_EQ(devices_->Detach(file).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(Autoclear(device.path));
  EXPECT_EQ(MustAttach(file), device);
  EXPECT_FALSE(Autoclear(device.path));
  holder.Close();
  EXPECT_EQ(DevicesBacking(file), std::vector<std::string>{device.path}) << "outlived the close";
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
}

TEST_F(LoopDevicesTest, DetachOfAnExclusivelyHeldDeviceChangesNothing) {
  // An O_EXCL opener stands in for a mount or a device-mapper mapping on the device.
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  Fd holder(open(device.path.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC));
  ASSERT_GE(holder.get(), 0);
  const absl::Status busy = devices_->Detach(file);
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable) << busy;
  EXPECT_THAT(busy.message(), HasSubstr(device.path + " is in use by"));
  EXPECT_FALSE(Autoclear(device.path)) << "no detach may be left pending";
  holder.Close();
  EXPECT_EQ(devices_->Find(file).value_or(LoopDevice{}), device);
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
  EXPECT_THAT(DevicesBacking(file), ::testing::IsEmpty());
}

TEST_F(LoopDevicesTest, DetachFindsTheDeviceOfADeletedFile) {
  const std::string file = SparseFile("a.img");
  const LoopDevice device = MustAttach(file);
  ASSERT_EQ(unlink(file.c_str()), 0);
  EXPECT_EQ(Sysfs(device.path, "loop/backing_file"), file + " (deleted)");
  EXPECT_EQ(devices_->Find(file).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
  EXPECT_EQ(Sysfs(device.path, "loop/backing_file"), std::nullopt);
}

TEST_F(LoopDevicesTest, RejectsWhatCannotBeAVolumeFile) {
  const std::string missing = dir_ + "/missing.img";
  EXPECT_EQ(devices_->Attach(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(devices_->Find(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(devices_->Detach(missing), absl::OkStatus());
  const absl::Status directory = devices_->Attach(dir_).status();
  EXPECT_EQ(directory.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(directory.message(), HasSubstr("not a regular file"));
  const std::string odd = SparseFile("odd.img", 4097);
  const absl::Status size = devices_->Attach(odd).status();
  EXPECT_EQ(size.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(size.message(), HasSubstr("4097 bytes"));
  EXPECT_THAT(DevicesBacking(odd), ::testing::IsEmpty());
}

// Eight files attached at once, from one instance or from eight (as from separate
// processes, which race for the same free device and must take the next one).
void AttachConcurrently(const std::vector<std::string>& files, bool separate_instances,
                        LoopDevices& shared) {
  std::vector<absl::StatusOr<LoopDevice>> results(files.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < files.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          separate_instances ? MakeSystemLoopDevices()->Attach(files[i]) : shared.Attach(files[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> paths;
  for (std::size_t i = 0; i < files.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    paths.insert(results[i]->path);
    EXPECT_EQ(DevicesBacking(files[i]), std::vector<std::string>{results[i]->path});
  }
  EXPECT_EQ(paths.size(), files.size());
  for (const std::string& file : files) EXPECT_EQ(shared.Detach(file), absl::OkStatus());
}

TEST_F(LoopDevicesTest, ConcurrentAttachesFromOneInstanceGetDistinctDevices) {
  std::vector<std::string> files;
  for (int i = 0; i < 8; ++i) files.push_back(SparseFile(fmt::format("f{}.img", i)));
  AttachConcurrently(files, /*separate_instances=*/false, *devices_);
}

TEST_F(LoopDevicesTest, ConcurrentAttachesFromSeparateInstancesGetDistinctDevices) {
  std::vector<std::string> files;
  for (int i = 0; i < 8; ++i) files.push_back(SparseFile(fmt::format("f{}.img", i)));
  AttachConcurrently(files, /*separate_instances=*/true, *devices_);
}

TEST_F(LoopDevicesTest, ConcurrentAttachesOfOneFileShareOneDevice) {
  // Separate instances, as separate processes would be: only the file lock orders them.
  constexpr int kThreads = 8;
  const std::string file = SparseFile("a.img");
  std::vector<absl::StatusOr<LoopDevice>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { results[i] = MakeSystemLoopDevices()->Attach(file); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, *results.front());
  }
  EXPECT_EQ(DevicesBacking(file), std::vector<std::string>{results.front()->path});
  EXPECT_EQ(devices_->Detach(file), absl::OkStatus());
}

}  // namespace
}  // namespace cloak::node
