#pragma once

// LocalBackend: volumes as sparse files on the node that runs the controller, for
// single-node clusters and development (the embedded default). The node plugin on the
// same node attaches <dir>/<volume_id>.img to a loop device.
//
// <dir>/cloak-manifest.json lists every volume (docs/controller.md has the format); it is
// replaced crash-safely (temporary file, fsync, rename, fsync of the directory) on every
// change, and a manifest that does not parse is refused whole, never rewritten. One
// process at a time owns a directory (an exclusive flock on <dir>/.cloak-manifest.lock).
//
// Sizes: a volume's backing file holds its usable capacity plus the LUKS2 header (the
// 16 MiB data offset) and, with integrity, dm-integrity's tags and journal, so the
// filesystem gets at least what the claim asked for. Files are sparse: blocks are taken
// as they are written, and a new volume is refused when its whole file would not fit in
// the free space less the reserve.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/unique_fd.h"
#include "controller/volume_backend.h"
#include "csi/topology.h"

namespace cloak::controller {

inline constexpr char kManifestFileName[] = "cloak-manifest.json";
inline constexpr std::int64_t kMiB = 1 << 20;
inline constexpr std::int64_t kGiB = std::int64_t{1} << 30;
// The LUKS2 data offset (docs/crypt.md): the header and keyslot area before the data.
inline constexpr std::int64_t kLuksDataOffsetBytes = 16 * kMiB;
inline constexpr std::int64_t kDefaultCapacityBytes = kGiB;
inline constexpr std::int64_t kMaxCapacityBytes = std::int64_t{1} << 50;  // 1 PiB

struct LocalBackendOptions {
  std::string dir;                 // absolute; created (0700) when missing
  std::string node_id;             // the topology segment's value
  std::int64_t reserve_bytes = 0;  // free space never handed to volumes
};

// The backing file size for `capacity_bytes` usable bytes in `integrity` mode: rounded up
// to 1 MiB, with the LUKS2 data offset and an upper bound of dm-integrity's metadata
// (tags of at most 32 bytes per 4096-byte sector, a journal of at most 1/128 of the
// device and 64 MiB).
std::int64_t BackingBytes(std::int64_t capacity_bytes, const std::string& integrity);

class LocalBackend final : public VolumeBackend {
 public:
  // Opens (or starts) the manifest in options.dir. INVALID_ARGUMENT for a relative dir,
  // FAILED_PRECONDITION when another process owns the directory or the manifest does not
  // parse (naming the file and the entry), errno-based codes for I/O errors.
  static absl::StatusOr<std::unique_ptr<LocalBackend>> Open(LocalBackendOptions options);
  ~LocalBackend() override;

  absl::StatusOr<std::int64_t> ChooseCapacity(std::int64_t required, std::int64_t limit,
                                              std::int64_t minimum) const override;
  absl::StatusOr<BackendVolume> Create(const VolumeSpec& spec) override;
  absl::Status MarkReady(const std::string& volume_id) override;
  absl::StatusOr<BackendVolume> Get(const std::string& volume_id) const override;
  absl::Status Delete(const std::string& volume_id) override;
  absl::StatusOr<std::int64_t> Expand(const std::string& volume_id,
                                      std::int64_t capacity_bytes) override;
  std::vector<BackendVolume> List(std::uint64_t after, std::size_t max) const override;
  std::vector<BackendVolume> ListPending() const override;
  std::uint64_t LastSequence() const override;
  absl::StatusOr<std::int64_t> AvailableCapacity() const override;
  std::map<std::string, std::string> Topology() const override;

  // <dir>/<volume_id>.img.
  std::string BackingFile(const std::string& volume_id) const;

 private:
  struct Manifest;
  LocalBackend(LocalBackendOptions options, UniqueFd lock, std::unique_ptr<Manifest> manifest);

  // Writes `next` as the manifest and, when that succeeded, adopts it. mutex_ held.
  absl::Status Commit(std::unique_ptr<Manifest> next);
  // The file's size raised to `bytes` (created when missing), fsynced. mutex_ held.
  absl::Status Allocate(const std::string& volume_id, std::int64_t bytes) const;
  absl::StatusOr<std::int64_t> FreeBytes() const;

  const LocalBackendOptions options_;
  const UniqueFd lock_;
  mutable std::mutex mutex_;
  std::unique_ptr<Manifest> manifest_;
};

}  // namespace cloak::controller
