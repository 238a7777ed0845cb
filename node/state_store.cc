#include "node/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/atomic_file.h"
#include "common/status.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace cloak::node {
namespace {

using nlohmann::json;

constexpr std::string_view kSuffix = ".json";

absl::Status EnsureDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        fmt::format("state directory {}: cannot create it ({}); pass --state-dir with a "
                    "writable directory",
                    path, std::strerror(errno)));
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(fmt::format(
        "state directory {}: not a directory; pass --state-dir with a directory", path));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status Take(const json& object, const char* key, T& out) {
  const auto it = object.find(key);
  if (it == object.end()) return absl::OkStatus();
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(
        fmt::format("node volume state: \"{}\" has the wrong type", key));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view StagePhaseName(StagePhase phase) {
  return phase == StagePhase::kStaged ? "staged" : "staging";
}

absl::StatusOr<VolumeStateRecord> ParseVolumeStateRecord(std::string_view json_text) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError("node volume state: not a JSON object");
  }
  static const std::set<std::string> kKeys = {"volume_id",
                                              "phase",
                                              "staging_path",
                                              "backing_file",
                                              "loop_device",
                                              "mapper_name",
                                              "block",
                                              "fs_type",
                                              "mount_flags",
                                              "integrity",
                                              "integrity_initialized",
                                              "kernel_log_sequence",
                                              "published"};
  for (const auto& [key, value] : root.items()) {
    if (!kKeys.contains(key)) {
      return absl::InvalidArgumentError(fmt::format("node volume state: unknown key \"{}\"", key));
    }
  }
  VolumeStateRecord record;
  std::string phase;
  RETURN_IF_ERROR(Take(root, "volume_id", record.volume_id));
  RETURN_IF_ERROR(Take(root, "phase", phase));
  RETURN_IF_ERROR(Take(root, "staging_path", record.staging_path));
  RETURN_IF_ERROR(Take(root, "backing_file", record.backing_file));
  RETURN_IF_ERROR(Take(root, "loop_device", record.loop_device));
  RETURN_IF_ERROR(Take(root, "mapper_name", record.mapper_name));
  RETURN_IF_ERROR(Take(root, "block", record.block));
  RETURN_IF_ERROR(Take(root, "fs_type", record.fs_type));
  RETURN_IF_ERROR(Take(root, "mount_flags", record.mount_flags));
  RETURN_IF_ERROR(Take(root, "integrity", record.integrity));
  RETURN_IF_ERROR(Take(root, "integrity_initialized", record.integrity_initialized));
  RETURN_IF_ERROR(Take(root, "kernel_log_sequence", record.kernel_log_sequence));
  RETURN_IF_ERROR(Take(root, "published", record.published));
  if (phase == "staged") {
    record.phase = StagePhase::kStaged;
  } else if (phase == "staging") {
    record.phase = StagePhase::kStaging;
  } else {
    return absl::InvalidArgumentError(
        fmt::format("node volume state: phase \"{}\" is not staging or staged", phase));
  }
  if (record.volume_id.empty()) {
    return absl::InvalidArgumentError("node volume state: volume_id is required");
  }
  return record;
}

std::string SerializeVolumeStateRecord(const VolumeStateRecord& record) {
  return json{{"volume_id", record.volume_id},
              {"phase", StagePhaseName(record.phase)},
              {"staging_path", record.staging_path},
              {"backing_file", record.backing_file},
              {"loop_device", record.loop_device},
              {"mapper_name", record.mapper_name},
              {"block", record.block},
              {"fs_type", record.fs_type},
              {"mount_flags", record.mount_flags},
              {"integrity", record.integrity},
              {"integrity_initialized", record.integrity_initialized},
              {"kernel_log_sequence", record.kernel_log_sequence},
              {"published", record.published}}
      .dump(2);
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& state_dir) {
  RETURN_IF_ERROR(EnsureDirectory(state_dir));
  const std::string volumes = state_dir + "/volumes";
  RETURN_IF_ERROR(EnsureDirectory(volumes));
  return std::unique_ptr<StateStore>(new StateStore(volumes));
}

std::string StateStore::PathOf(const std::string& volume_id) const {
  return fmt::format("{}/{}{}", directory_, volume_id, kSuffix);
}

absl::Status StateStore::Put(const VolumeStateRecord& record) {
  const std::string text = SerializeVolumeStateRecord(record);
  std::lock_guard lock(mutex_);
  return WriteFileAtomically(PathOf(record.volume_id),
                             std::span<const std::uint8_t>(
                                 reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                             0600);
}

absl::StatusOr<VolumeStateRecord> StateStore::Get(const std::string& volume_id) {
  std::lock_guard lock(mutex_);
  const std::string path = PathOf(volume_id);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          fmt::format("volume {} has no state record on this node", volume_id));
    }
    return ErrnoToStatus(errno, fmt::format("open {}", path));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error_number = errno;
      ::close(fd);
      return ErrnoToStatus(error_number, fmt::format("read {}", path));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  absl::StatusOr<VolumeStateRecord> record = ParseVolumeStateRecord(text);
  if (!record.ok()) {
    return absl::DataLossError(
        fmt::format("{}: {}; remove the file after checking the volume's "
                    "mapping and mounts by hand",
                    path, std::string(record.status().message())));
  }
  if (record->volume_id != volume_id) {
    return absl::DataLossError(
        fmt::format("{}: holds volume {}, not {}", path, record->volume_id, volume_id));
  }
  return record;
}

absl::Status StateStore::Remove(const std::string& volume_id) {
  std::lock_guard lock(mutex_);
  const std::string path = PathOf(volume_id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, fmt::format("remove {}", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VolumeStateRecord>> StateStore::List() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    DIR* dir = ::opendir(directory_.c_str());
    if (dir == nullptr) return ErrnoToStatus(errno, fmt::format("list {}", directory_));
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name.size() > kSuffix.size() && name.ends_with(kSuffix) &&
          name.find(".tmp.") == std::string::npos) {
        ids.push_back(name.substr(0, name.size() - kSuffix.size()));
      }
    }
    ::closedir(dir);
  }
  std::vector<VolumeStateRecord> records;
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(VolumeStateRecord record, Get(id));
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace cloak::node
