#pragma once

// StateStore: the node plugin's record of each volume it stages — what it attached,
// opened and mounted — so that a restarted plugin (SIGKILL at any step) can finish or
// undo the work (DESIGN §4). One JSON file per volume under `<state_dir>/volumes/`,
// replaced atomically (common/atomic_file.h), mode 0600, directory 0700. A record holds
// no secret: no key, no CSI secrets, no evidence; only names and paths.

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::node {

enum class StagePhase {
  kStaging,  // work in progress (or interrupted): the stage call must be repeated
  kStaged,   // NodeStageVolume completed
};

struct VolumeStateRecord {
  std::string volume_id;
  StagePhase phase = StagePhase::kStaging;
  std::string staging_path;
  std::string backing_file;  // the local backend's image file
  std::string loop_device;   // "/dev/loopN", once attached
  std::string mapper_name;   // "cloak-<volume_id>"
  bool block = false;        // raw block access; otherwise a filesystem
  std::string fs_type;       // "ext4" | "xfs" for filesystem volumes
  std::vector<std::string> mount_flags;
  std::string integrity;               // "none" | "hmac-sha256" | "aead", from the record
  bool integrity_initialized = false;  // every tag written once (new volumes)
  // The kernel log's newest sequence number when the mapping was opened: integrity errors
  // logged after it belong to this staging.
  std::uint64_t kernel_log_sequence = 0;
  std::set<std::string> published;  // NodePublishVolume targets

  friend bool operator==(const VolumeStateRecord&, const VolumeStateRecord&) = default;
};

std::string_view StagePhaseName(StagePhase phase);

// Strict (unknown keys refused); INVALID_ARGUMENT naming the key.
absl::StatusOr<VolumeStateRecord> ParseVolumeStateRecord(std::string_view json_text);
std::string SerializeVolumeStateRecord(const VolumeStateRecord& record);

class StateStore {
 public:
  // Creates `<state_dir>/volumes` (mode 0700) when missing. FAILED_PRECONDITION when it
  // cannot be created or is not a directory.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& state_dir);

  // Replaces the record of record.volume_id. Thread-safe.
  absl::Status Put(const VolumeStateRecord& record);
  // NOT_FOUND when there is none; DATA_LOSS when the file does not parse. Thread-safe.
  absl::StatusOr<VolumeStateRecord> Get(const std::string& volume_id);
  // OK when there is none. Thread-safe.
  absl::Status Remove(const std::string& volume_id);
  // Every record (for NodeGetInfo's count and recovery at start). Thread-safe.
  absl::StatusOr<std::vector<VolumeStateRecord>> List();

  const std::string& directory() const { return directory_; }

 private:
  explicit StateStore(std::string directory) : directory_(std::move(directory)) {}
  std::string PathOf(const std::string& volume_id) const;

  const std::string directory_;
  std::mutex mutex_;
};

}  // namespace cloak::node
