#pragma once

// Fakes for NodeService unit tests: the key service (volumes with records and DEKs), the
// mounter (a mount table in memory) and the loop devices. The crypt engine itself is the
// real one over tests/crypt's FakeCryptsetup / FakeDeviceMapper / FakeBlockDevices.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "crypt/volume_record.h"
#include "fmt/format.h"
#include "kms/client/key_service_client.h"
#include "node/kernel_log.h"
#include "node/loop_devices.h"
#include "node/mounter.h"
#include "tests/crypt/fake_block_devices.h"

namespace cloak::node::testing {

class FakeKeyService final : public kms::client::KeyServiceClient {
 public:
  struct Volume {
    crypt::VolumeRecord record;
    std::vector<std::uint8_t> dek;
  };

  // A volume as CreateVolumeKey leaves it: state created, a DEK of the record's size.
  void Create(const std::string& id, crypt::IntegrityMode mode) {
    std::lock_guard lock(mutex_);
    Volume volume{.record = *crypt::DefaultRecord(id, mode), .dek = {}};
    volume.dek.resize(volume.record.volume_key_bytes());
    for (std::size_t i = 0; i < volume.dek.size(); ++i) {
      volume.dek[i] = static_cast<std::uint8_t>(0x5a ^ (i * 7) ^ id.size());
    }
    volumes_[id] = std::move(volume);
  }
  Volume volume(const std::string& id) {
    std::lock_guard lock(mutex_);
    return volumes_.at(id);
  }

  absl::StatusOr<kms::client::SessionInfo> Attest() override { return kms::client::SessionInfo{}; }
  absl::StatusOr<kms::client::VolumeKey> GetVolumeKey(const std::string& id) override {
    std::lock_guard lock(mutex_);
    ++releases;
    if (!next_error.ok()) return std::exchange(next_error, absl::OkStatus());
    auto it = volumes_.find(id);
    if (it == volumes_.end()) return absl::NotFoundError("volume " + id + " is unknown");
    return kms::client::VolumeKey{.dek = SecretBytes::CopyFrom(it->second.dek),
                                  .key_version = 1,
                                  .record_json = crypt::SerializeVolumeRecord(it->second.record)};
  }
  absl::StatusOr<kms::client::VolumeKeyInfo> CreateVolumeKey(const std::string&,
                                                             kms::v1::IntegrityMode,
                                                             const kms::client::Labels&) override {
    return absl::UnimplementedError("node tests do not create keys");
  }
  absl::StatusOr<kms::v1::VolumeState> ReportVolumeState(const std::string& id,
                                                         kms::v1::VolumeState expected,
                                                         kms::v1::VolumeState next) override {
    std::lock_guard lock(mutex_);
    ++reports;
    auto it = volumes_.find(id);
    if (it == volumes_.end()) return absl::NotFoundError("volume " + id + " is unknown");
    if (expected != kms::v1::VOLUME_STATE_CREATED || next != kms::v1::VOLUME_STATE_FORMATTED) {
      return absl::InvalidArgumentError("only created -> formatted");
    }
    it->second.record.state = crypt::VolumeState::kFormatted;
    return kms::v1::VOLUME_STATE_FORMATTED;
  }
  absl::Status DestroyVolumeKey(const std::string&) override {
    return absl::UnimplementedError("node tests do not destroy keys");
  }
  absl::StatusOr<kms::client::VolumeKeyInfo> CloneVolumeKey(const std::string&, const std::string&,
                                                            const kms::client::Labels&) override {
    return absl::UnimplementedError("node tests do not clone keys");
  }
  const std::string& address() const override { return address_; }

  absl::Status next_error = absl::OkStatus();  // answered once by the next GetVolumeKey
  int releases = 0;
  int reports = 0;

 private:
  std::mutex mutex_;
  std::map<std::string, Volume> volumes_;
  const std::string address_ = "127.0.0.1:7443";
};

class FakeMounter final : public Mounter {
 public:
  explicit FakeMounter(crypt::testing::FakeBlockDevices& devices) : devices_(devices) {}

  absl::StatusOr<MountEntry> FindMount(const std::string& target) override {
    std::lock_guard lock(mutex_);
    auto it = mounts_.find(target);
    if (it == mounts_.end()) return absl::NotFoundError(target + " is not a mount point");
    return it->second;
  }
  absl::Status Mount(const std::string& device, const std::string& target, std::string_view fs_type,
                     const std::vector<std::string>& options) override {
    if (on_mount) on_mount(target);
    std::lock_guard lock(mutex_);
    calls.push_back(fmt::format("Mount {} {} {}", device, target, fs_type));
    auto number = devices_.Number(device);
    if (!number.ok()) return number.status();
    MountEntry entry{.device_number = fmt::format("{}:{}", number->major, number->minor),
                     .root = "/",
                     .target = target,
                     .mount_options = {"rw", "nosuid", "nodev"},
                     .fs_type = std::string(fs_type),
                     .source = device,
                     .super_options = {}};
    for (const std::string& option : options) entry.mount_options.push_back(option);
    mounts_[target] = std::move(entry);
    return absl::OkStatus();
  }
  absl::Status BindMount(const std::string& source, const std::string& target, bool read_only,
                         const std::vector<std::string>&) override {
    std::lock_guard lock(mutex_);
    calls.push_back(fmt::format("BindMount {} {}{}", source, target, read_only ? " ro" : ""));
    MountEntry entry;
    auto under = mounts_.find(source);
    if (under != mounts_.end()) {
      entry = under->second;
    } else {
      // A device node bound onto a file: devtmpfs, rooted at the node's path under /dev.
      entry.device_number = "0:5";
      entry.root = source.substr(4);
      entry.fs_type = "devtmpfs";
      entry.source = "udev";
    }
    entry.target = target;
    entry.mount_options = {read_only ? "ro" : "rw", "nosuid", "nodev"};
    mounts_[target] = std::move(entry);
    return absl::OkStatus();
  }
  absl::Status Unmount(const std::string& target) override {
    std::lock_guard lock(mutex_);
    calls.push_back("Unmount " + target);
    mounts_.erase(target);
    return absl::OkStatus();
  }
  absl::Status MakeFilesystem(const std::string& device, std::string_view fs_type) override {
    std::lock_guard lock(mutex_);
    calls.push_back(fmt::format("MakeFilesystem {} {}", device, fs_type));
    if (!mkfs_error.ok()) return std::exchange(mkfs_error, absl::OkStatus());
    devices_.at(device).signatures = {std::string(fs_type)};
    return absl::OkStatus();
  }
  absl::Status GrowFilesystem(const std::string& device, const std::string& mount_path,
                              std::string_view fs_type) override {
    std::lock_guard lock(mutex_);
    calls.push_back(fmt::format("GrowFilesystem {} {} {}", device, mount_path, fs_type));
    return absl::OkStatus();
  }
  absl::StatusOr<FilesystemUsage> Usage(const std::string&) override { return usage; }

  std::size_t Count(std::string_view prefix) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const std::string& call : calls) n += call.starts_with(prefix) ? 1 : 0;
    return n;
  }
  bool Mounted(const std::string& target) {
    std::lock_guard lock(mutex_);
    return mounts_.contains(target);
  }

  std::vector<std::string> calls;
  absl::Status mkfs_error = absl::OkStatus();  // answered once by the next MakeFilesystem
  std::function<void(const std::string& target)> on_mount;
  FilesystemUsage usage{.total_bytes = 1000,
                        .available_bytes = 600,
                        .used_bytes = 400,
                        .total_inodes = 50,
                        .available_inodes = 40,
                        .used_inodes = 10};

 private:
  std::mutex mutex_;
  crypt::testing::FakeBlockDevices& devices_;
  std::map<std::string, MountEntry> mounts_;
};

class FakeLoopDevices final : public LoopDevices {
 public:
  // Backing files get /dev/loop0, /dev/loop1, ... in order of first attachment; the test
  // adds those devices to FakeBlockDevices.
  absl::StatusOr<LoopDevice> Attach(const std::string& backing_file) override {
    std::lock_guard lock(mutex_);
    ++attaches;
    // One device per file for the whole test: the fake crypt layer keys headers by
    // device path, where the kernel would find them in the file.
    auto it = assigned_.find(backing_file);
    if (it == assigned_.end()) {
      it = assigned_.emplace(backing_file, fmt::format("/dev/loop{}", next_++)).first;
    }
    attached_[backing_file] = it->second;
    return LoopDevice{.path = it->second, .direct_io = true, .logical_block_size = 4096};
  }
  absl::StatusOr<LoopDevice> Find(const std::string& backing_file) override {
    std::lock_guard lock(mutex_);
    auto it = attached_.find(backing_file);
    if (it == attached_.end()) return absl::NotFoundError(backing_file + " is not attached");
    return LoopDevice{.path = it->second, .direct_io = true, .logical_block_size = 4096};
  }
  absl::Status Detach(const std::string& backing_file) override {
    std::lock_guard lock(mutex_);
    attached_.erase(backing_file);
    return absl::OkStatus();
  }
  absl::Status RefreshCapacity(const std::string& device) override {
    std::lock_guard lock(mutex_);
    refreshed.push_back(device);
    return absl::OkStatus();
  }
  std::size_t attached() {
    std::lock_guard lock(mutex_);
    return attached_.size();
  }

  int attaches = 0;
  std::vector<std::string> refreshed;

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> attached_;
  std::map<std::string, std::string> assigned_;
  int next_ = 0;
};

// A kernel log as a list of (sequence, message) records.
class FakeKernelLog final : public KernelLog {
 public:
  void Append(std::string message) {
    std::lock_guard lock(mutex_);
    records_.emplace_back(++last_, std::move(message));
  }
  absl::StatusOr<std::uint64_t> LastSequence() override {
    std::lock_guard lock(mutex_);
    return last_;
  }
  absl::StatusOr<std::uint64_t> CountIntegrityErrors(const std::vector<std::string>& devices,
                                                     std::uint64_t after) override {
    std::lock_guard lock(mutex_);
    std::uint64_t count = 0;
    for (const auto& [sequence, message] : records_) {
      if (sequence > after && IsIntegrityError(message, devices)) ++count;
    }
    return count;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<std::uint64_t, std::string>> records_;
  std::uint64_t last_ = 0;
};

}  // namespace cloak::node::testing
