// crypt_vm_tool: drives the crypt engine from the VM tier's guest scripts, one step per
// invocation, so a scenario can stop between steps, reboot, or let the host tamper with
// the disk in between. Test-only: keys come from files in the guest's tmpfs.
//
//   crypt_vm_tool record ID MODE                     the default record, JSON on stdout
//   crypt_vm_tool format DISK RECORD KEYFILE         format (record state "created")
//   crypt_vm_tool open DISK NAME RECORD KEYFILE [--no-journal]
//   crypt_vm_tool init NAME [OFFSET LENGTH]          initialise integrity tags (bytes)
//   crypt_vm_tool status NAME                        one line of key=value facts
//   crypt_vm_tool close NAME
//   crypt_vm_tool mmap-write DEVICE TEXT             TEXT at offset 0 through a writable
//                                                    shared mapping of DEVICE, msync'd
//
// Exit status 0 on success, 1 with the engine's message on stderr otherwise, 2 for usage.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "crypt/block_devices_impl.h"
#include "crypt/cryptsetup_impl.h"
#include "crypt/device_mapper_impl.h"
#include "crypt/engine.h"
#include "crypt/volume_record.h"

namespace cloak::crypt {
namespace {

int Usage() {
  std::cerr << "usage: crypt_vm_tool record ID MODE | format DISK RECORD KEYFILE | open DISK "
               "NAME RECORD KEYFILE [--no-journal] | init NAME [OFFSET LENGTH] | status NAME | "
               "close NAME | mmap-write DEVICE TEXT\n";
  return 2;
}

int Fail(const absl::Status& status) {
  std::cerr << "crypt_vm_tool: " << status << "\n";
  return 1;
}

absl::StatusOr<VolumeRecord> LoadRecord(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read record " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseVolumeRecord(text.str());
}

absl::StatusOr<SecretBytes> LoadKey(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError("cannot open key file " + path);
  SecretBytes buffer(256);
  const ssize_t n = read(fd, buffer.MutableSecretData(), buffer.size());
  close(fd);
  if (n <= 0) return absl::InvalidArgumentError("empty key file " + path);
  return SecretBytes::CopyFrom(buffer.SecretSpan().subspan(0, static_cast<std::size_t>(n)));
}

int Run(const std::vector<std::string>& args) {
  if (args.empty()) return Usage();
  const std::string& command = args[0];
  if (command == "record" && args.size() == 3) {
    auto mode = ParseIntegrityMode(args[2]);
    if (!mode.ok()) return Fail(mode.status());
    auto record = DefaultRecord(args[1], *mode);
    if (!record.ok()) return Fail(record.status());
    std::cout << SerializeVolumeRecord(*record) << "\n";
    return 0;
  }

  auto cryptsetup = NewLibCryptsetup();
  auto device_mapper = NewLibDeviceMapper();
  auto devices = NewSystemBlockDevices();
  Engine engine(*cryptsetup, *device_mapper, *devices);

  if (command == "format" && args.size() == 4) {
    auto record = LoadRecord(args[2]);
    if (!record.ok()) return Fail(record.status());
    auto key = LoadKey(args[3]);
    if (!key.ok()) return Fail(key.status());
    absl::Status formatted = engine.Format(args[1], *record, *key, DeviceClaim::kUnknown);
    if (!formatted.ok()) return Fail(formatted);
    std::cout << "formatted " << args[1] << "\n";
    return 0;
  }
  if (command == "open" && (args.size() == 5 || args.size() == 6)) {
    auto record = LoadRecord(args[3]);
    if (!record.ok()) return Fail(record.status());
    record->state = VolumeState::kFormatted;
    auto key = LoadKey(args[4]);
    if (!key.ok()) return Fail(key.status());
    OpenOptions options;
    if (args.size() == 6) {
      if (args[5] != "--no-journal") return Usage();
      options.integrity_no_journal = true;
    }
    auto opened = engine.Open(args[1], args[2], *record, *key, options);
    if (!opened.ok()) return Fail(opened.status());
    std::cout << "opened " << opened->mapper_path << (opened->adopted ? " (adopted)" : "") << "\n";
    return 0;
  }
  if (command == "init" && (args.size() == 2 || args.size() == 4)) {
    IntegrityInitOptions options;
    if (args.size() == 4) {
      options.offset = std::stoull(args[2]);
      options.length = std::stoull(args[3]);
    }
    const auto start = std::chrono::steady_clock::now();
    auto next_report = start;
    options.progress = [&next_report](const Progress& p) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_report && p.bytes_done != p.bytes_total) return;
      next_report = now + std::chrono::seconds(5);
      std::cout << "progress " << p.bytes_done << "/" << p.bytes_total << " bytes, "
                << static_cast<std::uint64_t>(p.bytes_per_second / (1 << 20)) << " MiB/s\n"
                << std::flush;
    };
    auto written = engine.InitializeIntegrity(args[1], options);
    if (!written.ok()) return Fail(written.status());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("initialised %llu bytes in %.2f s (%.1f MiB/s)\n",
                static_cast<unsigned long long>(*written), seconds,
                seconds > 0 ? static_cast<double>(*written) / (1 << 20) / seconds : 0.0);
    return 0;
  }
  if (command == "status" && args.size() == 2) {
    auto status = engine.Status(args[1]);
    if (!status.ok()) return Fail(status.status());
    std::cout << "mapper=" << status->mapper_path << " size=" << status->size_bytes
              << " integrity=" << (status->integrity ? "yes" : "no")
              << " mismatches=" << status->integrity_mismatches
              << " open_count=" << status->open_count << "\n";
    return 0;
  }
  if (command == "mmap-write" && args.size() == 3) {
    // The path a write(2) check does not see: dirty pages of a shared mapping, written
    // back by the kernel. Each step that the kernel refuses is reported as such.
    const int fd = open(args[1].c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Fail(absl::PermissionDeniedError("open: " + std::string(strerror(errno))));
    void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED) {
      const int error = errno;
      close(fd);
      return Fail(absl::PermissionDeniedError("mmap: " + std::string(strerror(error))));
    }
    std::memcpy(page, args[2].data(), std::min<std::size_t>(args[2].size(), 4096));
    const int synced = msync(page, 4096, MS_SYNC);
    const int error = errno;
    munmap(page, 4096);
    const int closed = fsync(fd) == 0 && close(fd) == 0 ? 0 : errno;
    if (synced != 0)
      return Fail(absl::PermissionDeniedError("msync: " + std::string(strerror(error))));
    if (closed != 0)
      return Fail(absl::PermissionDeniedError("fsync: " + std::string(strerror(closed))));
    std::cout << "written through a shared mapping of " << args[1] << "\n";
    return 0;
  }
  if (command == "close" && args.size() == 2) {
    absl::Status closed = engine.Close(args[1]);
    if (!closed.ok()) return Fail(closed);
    std::cout << "closed " << args[1] << "\n";
    return 0;
  }
  return Usage();
}

}  // namespace
}  // namespace cloak::crypt

int main(int argc, char** argv) {
  return cloak::crypt::Run(std::vector<std::string>(argv + 1, argv + argc));
}
