#include "controller/local_backend.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/atomic_file.h"
#include "common/status.h"
#include "controller/volume_id.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace cloak::controller {
namespace {

using json = nlohmann::json;

constexpr char kManifestFormat[] = "cloak-local-manifest/1";
constexpr char kLockFileName[] = ".cloak-manifest.lock";
constexpr char kStatePending[] = "pending";
constexpr char kStateReady[] = "ready";

std::int64_t RoundUp(std::int64_t value, std::int64_t unit) {
  return (value + unit - 1) / unit * unit;
}

absl::Status ManifestError(const std::string& path, std::string_view what) {
  return absl::FailedPreconditionError(
      fmt::format("local backend manifest {}: {}; it is left as it is: restore it from a backup or "
                  "repair it by hand (docs/controller.md describes the format)",
                  path, what));
}

absl::Status FsyncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, fmt::format("open directory {}", dir));
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, fmt::format("fsync {}", dir));
  return absl::OkStatus();
}

bool IsKnownIntegrity(const std::string& mode) {
  return mode == kIntegrityNone || mode == kIntegrityHmacSha256 || mode == kIntegrityAead;
}

}  // namespace

struct LocalBackend::Manifest {
  std::uint64_t last_sequence = 0;
  std::map<std::string, BackendVolume> volumes;  // by volume id

  const BackendVolume* FindByName(const std::string& name) const {
    for (const auto& [id, volume] : volumes) {
      if (volume.name == name) return &volume;
    }
    return nullptr;
  }

  json ToJson() const {
    json list = json::array();
    for (const auto& [id, volume] : volumes) {
      list.push_back({{"volume_id", volume.volume_id},
                      {"name", volume.name},
                      {"capacity_bytes", volume.capacity_bytes},
                      {"integrity", volume.integrity},
                      {"labels", volume.labels},
                      {"state", volume.ready ? kStateReady : kStatePending},
                      {"sequence", volume.sequence}});
    }
    return {{"format", kManifestFormat}, {"last_sequence", last_sequence}, {"volumes", list}};
  }

  // Strict: every field present with its type, ids and names unique, sequences below
  // last_sequence. The first problem is the error.
  static absl::StatusOr<std::unique_ptr<Manifest>> Parse(const std::string& text,
                                                         const std::string& path) {
    json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded() || !document.is_object()) {
      return ManifestError(path, "not a JSON object");
    }
    if (document.value("format", "") != kManifestFormat) {
      return ManifestError(path, fmt::format("format is not {}", kManifestFormat));
    }
    auto manifest = std::make_unique<Manifest>();
    const json& last = document["last_sequence"];
    if (!last.is_number_unsigned()) return ManifestError(path, "last_sequence is missing");
    manifest->last_sequence = last.get<std::uint64_t>();
    const json& list = document["volumes"];
    if (!list.is_array()) return ManifestError(path, "volumes is not a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& entry = list[i];
      const std::string where = fmt::format("volumes[{}]", i);
      if (!entry.is_object() || !entry["volume_id"].is_string() || !entry["name"].is_string() ||
          !entry["capacity_bytes"].is_number_integer() || !entry["integrity"].is_string() ||
          !entry["labels"].is_object() || !entry["state"].is_string() ||
          !entry["sequence"].is_number_unsigned()) {
        return ManifestError(path, where + " lacks a field or has one of the wrong type");
      }
      BackendVolume volume;
      volume.volume_id = entry["volume_id"].get<std::string>();
      volume.name = entry["name"].get<std::string>();
      volume.capacity_bytes = entry["capacity_bytes"].get<std::int64_t>();
      volume.integrity = entry["integrity"].get<std::string>();
      volume.sequence = entry["sequence"].get<std::uint64_t>();
      const std::string state = entry["state"].get<std::string>();
      for (const auto& [key, value] : entry["labels"].items()) {
        if (!value.is_string()) return ManifestError(path, where + ".labels: not all strings");
        volume.labels[key] = value.get<std::string>();
      }
      if (!IsGeneratedVolumeId(volume.volume_id)) {
        return ManifestError(path, where + ".volume_id is not a Cloak volume id");
      }
      if (volume.name.empty()) return ManifestError(path, where + ".name is empty");
      if (volume.capacity_bytes <= 0 || volume.capacity_bytes > kMaxCapacityBytes) {
        return ManifestError(path, where + ".capacity_bytes is out of range");
      }
      if (!IsKnownIntegrity(volume.integrity)) {
        return ManifestError(path, where + ".integrity is not none, hmac-sha256 or aead");
      }
      if (state != kStatePending && state != kStateReady) {
        return ManifestError(path, where + ".state is not pending or ready");
      }
      volume.ready = state == kStateReady;
      if (volume.sequence == 0 || volume.sequence > manifest->last_sequence) {
        return ManifestError(path, where + ".sequence is not in 1..last_sequence");
      }
      if (manifest->FindByName(volume.name) != nullptr) {
        return ManifestError(path, where + ".name appears twice");
      }
      const std::string id = volume.volume_id;
      if (!manifest->volumes.emplace(id, std::move(volume)).second) {
        return ManifestError(path, where + ".volume_id appears twice");
      }
    }
    return manifest;
  }
};

std::int64_t BackingBytes(std::int64_t capacity_bytes, const std::string& integrity) {
  std::int64_t bytes = capacity_bytes + kLuksDataOffsetBytes;
  if (integrity != kIntegrityNone) {
    // Tags: at most 32 of every 4096 bytes (1/128); twice that covers dm-integrity's
    // interleaved metadata sectors and rounding. Journal: the kernel's default, 1/128 of
    // the device up to 64 MiB. Superblock and alignment: 4 MiB.
    bytes +=
        capacity_bytes / 64 + std::min<std::int64_t>(64 * kMiB, capacity_bytes / 64) + 4 * kMiB;
  }
  return RoundUp(bytes, kMiB);
}

LocalBackend::LocalBackend(LocalBackendOptions options, UniqueFd lock,
                           std::unique_ptr<Manifest> manifest)
    : options_(std::move(options)), lock_(std::move(lock)), manifest_(std::move(manifest)) {}

LocalBackend::~LocalBackend() = default;

absl::StatusOr<std::unique_ptr<LocalBackend>> LocalBackend::Open(LocalBackendOptions options) {
  if (options.dir.empty() || options.dir.front() != '/') {
    return absl::InvalidArgumentError(
        fmt::format("local backend directory \"{}\" must be an absolute path", options.dir));
  }
  if (options.reserve_bytes < 0) {
    return absl::InvalidArgumentError("local backend reserve must not be negative");
  }
  while (options.dir.size() > 1 && options.dir.back() == '/') options.dir.pop_back();
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, fmt::format("create the local backend directory {}", options.dir));
  }
  const std::string lock_path = options.dir + "/" + kLockFileName;
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid()) return ErrnoToStatus(errno, fmt::format("open {}", lock_path));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          fmt::format("local backend directory {} is in use by another controller process "
                      "(it holds {}); run one controller per directory",
                      options.dir, lock_path));
    }
    return ErrnoToStatus(errno, fmt::format("lock {}", lock_path));
  }

  const std::string path = options.dir + "/" + kManifestFileName;
  auto manifest = std::make_unique<Manifest>();
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) return absl::UnavailableError(fmt::format("read {}", path));
    ASSIGN_OR_RETURN(manifest, Manifest::Parse(text.str(), path));
  } else if (errno != ENOENT) {
    return ErrnoToStatus(errno, fmt::format("open {}", path));
  }
  return std::unique_ptr<LocalBackend>(
      new LocalBackend(std::move(options), std::move(lock), std::move(manifest)));
}

std::string LocalBackend::BackingFile(const std::string& volume_id) const {
  return options_.dir + "/" + volume_id + ".img";
}

absl::Status LocalBackend::Commit(std::unique_ptr<Manifest> next) {
  const std::string text = next->ToJson().dump(2) + "\n";
  RETURN_IF_ERROR(WriteFileAtomically(
      options_.dir + "/" + kManifestFileName,
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0600));
  manifest_ = std::move(next);
  return absl::OkStatus();
}

absl::Status LocalBackend::Allocate(const std::string& volume_id, std::int64_t bytes) const {
  const std::string path = BackingFile(volume_id);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return ErrnoToStatus(errno, fmt::format("create backing file {}", path));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return ErrnoToStatus(errno, fmt::format("stat {}", path));
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("backing file {} is not a regular file; remove it", path));
  }
  if (info.st_size < bytes && ::ftruncate(fd.get(), bytes) != 0) {
    return ErrnoToStatus(errno, fmt::format("size backing file {} to {} bytes", path, bytes));
  }
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, fmt::format("fsync {}", path));
  if (fd.Close() != 0) {
    return ErrnoToStatus(errno, fmt::format("close {}", path));
  }
  return FsyncDirectory(options_.dir);
}

absl::StatusOr<std::int64_t> LocalBackend::FreeBytes() const {
  struct statvfs info {};
  if (::statvfs(options_.dir.c_str(), &info) != 0) {
    return ErrnoToStatus(errno, fmt::format("statvfs {}", options_.dir));
  }
  const auto free =
      static_cast<std::int64_t>(info.f_bavail) * static_cast<std::int64_t>(info.f_frsize);
  return std::max<std::int64_t>(0, free - options_.reserve_bytes);
}

absl::StatusOr<std::int64_t> LocalBackend::ChooseCapacity(std::int64_t required, std::int64_t limit,
                                                          std::int64_t minimum) const {
  std::int64_t wanted = required;
  if (wanted == 0)
    wanted = limit > 0 ? std::min(kDefaultCapacityBytes, limit) : kDefaultCapacityBytes;
  wanted = std::max({wanted, minimum, kMiB});
  const std::int64_t chosen = RoundUp(std::min(wanted, kMaxCapacityBytes + 1), kMiB);
  if ((limit > 0 && chosen > limit) || chosen > kMaxCapacityBytes) {
    return absl::OutOfRangeError(fmt::format(
        "capacity_range: the local backend makes volumes in whole MiB from {} to {} bytes, and "
        "none lies in [{}, {}] bytes{}; widen the range",
        std::max(minimum, kMiB), kMaxCapacityBytes, required,
        limit > 0 ? std::to_string(limit) : "unlimited",
        minimum > kMiB ? fmt::format(" at or above the minimum of {} bytes", minimum) : ""));
  }
  return chosen;
}

absl::StatusOr<BackendVolume> LocalBackend::Create(const VolumeSpec& spec) {
  std::lock_guard lock(mutex_);
  if (const BackendVolume* existing = manifest_->FindByName(spec.name)) {
    const bool size_ok = existing->capacity_bytes >= spec.min_bytes &&
                         (spec.max_bytes == 0 || existing->capacity_bytes <= spec.max_bytes);
    if (!size_ok || existing->integrity != spec.integrity || existing->labels != spec.labels) {
      return absl::AlreadyExistsError(fmt::format(
          "a volume named {} already exists ({}, {} bytes, integrity {}) and does not match "
          "this request ({}..{} bytes, integrity {}{}): use another name or the same "
          "parameters",
          spec.name, existing->volume_id, existing->capacity_bytes, existing->integrity,
          spec.min_bytes, spec.max_bytes > 0 ? std::to_string(spec.max_bytes) : "unlimited",
          spec.integrity, existing->labels != spec.labels ? ", other PVC labels" : ""));
    }
    if (!existing->ready) {
      RETURN_IF_ERROR(Allocate(existing->volume_id,
                               BackingBytes(existing->capacity_bytes, existing->integrity)));
    }
    return *existing;
  }

  const std::int64_t bytes = BackingBytes(spec.capacity_bytes, spec.integrity);
  ASSIGN_OR_RETURN(const std::int64_t free, FreeBytes());
  if (bytes > free) {
    return absl::ResourceExhaustedError(fmt::format(
        "volume {}: its backing file needs {} bytes and {} has {} free (after the reserve of "
        "{}); free space there or ask for less",
        spec.name, bytes, options_.dir, free, options_.reserve_bytes));
  }
  BackendVolume volume{.volume_id = NewVolumeId(),
                       .name = spec.name,
                       .capacity_bytes = spec.capacity_bytes,
                       .integrity = spec.integrity,
                       .labels = spec.labels,
                       .ready = false,
                       .sequence = manifest_->last_sequence + 1};
  // The record first: a crash after it leaves a pending entry that a retry completes,
  // never a file nothing knows about.
  auto next = std::make_unique<Manifest>(*manifest_);
  next->last_sequence = volume.sequence;
  next->volumes[volume.volume_id] = volume;
  RETURN_IF_ERROR(Commit(std::move(next)));
  if (absl::Status allocated = Allocate(volume.volume_id, bytes); !allocated.ok()) {
    ::unlink(BackingFile(volume.volume_id).c_str());
    auto undo = std::make_unique<Manifest>(*manifest_);
    undo->volumes.erase(volume.volume_id);
    (void)Commit(std::move(undo));  // a failure leaves a pending entry a retry reuses
    return allocated;
  }
  return volume;
}

absl::Status LocalBackend::MarkReady(const std::string& volume_id) {
  std::lock_guard lock(mutex_);
  auto found = manifest_->volumes.find(volume_id);
  if (found == manifest_->volumes.end()) {
    return absl::NotFoundError(fmt::format("volume {} is not in the local backend", volume_id));
  }
  if (found->second.ready) return absl::OkStatus();
  auto next = std::make_unique<Manifest>(*manifest_);
  next->volumes[volume_id].ready = true;
  return Commit(std::move(next));
}

absl::StatusOr<BackendVolume> LocalBackend::Get(const std::string& volume_id) const {
  std::lock_guard lock(mutex_);
  auto found = manifest_->volumes.find(volume_id);
  if (found == manifest_->volumes.end()) {
    return absl::NotFoundError(fmt::format("volume {} does not exist", volume_id));
  }
  return found->second;
}

absl::Status LocalBackend::Delete(const std::string& volume_id) {
  std::lock_guard lock(mutex_);
  if (!manifest_->volumes.contains(volume_id)) return absl::OkStatus();
  const std::string path = BackingFile(volume_id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, fmt::format("remove backing file {}", path));
  }
  RETURN_IF_ERROR(FsyncDirectory(options_.dir));
  auto next = std::make_unique<Manifest>(*manifest_);
  next->volumes.erase(volume_id);
  return Commit(std::move(next));
}

absl::StatusOr<std::int64_t> LocalBackend::Expand(const std::string& volume_id,
                                                  std::int64_t capacity_bytes) {
  std::lock_guard lock(mutex_);
  auto found = manifest_->volumes.find(volume_id);
  if (found == manifest_->volumes.end()) {
    return absl::NotFoundError(fmt::format("volume {} does not exist", volume_id));
  }
  const BackendVolume& volume = found->second;
  if (capacity_bytes <= volume.capacity_bytes) {
    // Done before, or a crash between the file and the manifest: make sure of the file.
    RETURN_IF_ERROR(Allocate(volume_id, BackingBytes(volume.capacity_bytes, volume.integrity)));
    return volume.capacity_bytes;
  }
  const std::int64_t grow = BackingBytes(capacity_bytes, volume.integrity) -
                            BackingBytes(volume.capacity_bytes, volume.integrity);
  ASSIGN_OR_RETURN(const std::int64_t free, FreeBytes());
  if (grow > free) {
    return absl::ResourceExhaustedError(fmt::format(
        "volume {}: growing to {} bytes needs {} more bytes and {} has {} free (after the "
        "reserve); free space there or ask for less",
        volume_id, capacity_bytes, grow, options_.dir, free));
  }
  RETURN_IF_ERROR(Allocate(volume_id, BackingBytes(capacity_bytes, volume.integrity)));
  auto next = std::make_unique<Manifest>(*manifest_);
  next->volumes[volume_id].capacity_bytes = capacity_bytes;
  RETURN_IF_ERROR(Commit(std::move(next)));
  return capacity_bytes;
}

std::vector<BackendVolume> LocalBackend::List(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  std::vector<BackendVolume> ready;
  for (const auto& [id, volume] : manifest_->volumes) {
    if (volume.ready && volume.sequence > after) ready.push_back(volume);
  }
  std::sort(ready.begin(), ready.end(),
            [](const BackendVolume& a, const BackendVolume& b) { return a.sequence < b.sequence; });
  if (max > 0 && ready.size() > max) ready.resize(max);
  return ready;
}

std::vector<BackendVolume> LocalBackend::ListPending() const {
  std::lock_guard lock(mutex_);
  std::vector<BackendVolume> pending;
  for (const auto& [id, volume] : manifest_->volumes) {
    if (!volume.ready) pending.push_back(volume);
  }
  std::sort(pending.begin(), pending.end(),
            [](const BackendVolume& a, const BackendVolume& b) { return a.sequence < b.sequence; });
  return pending;
}

std::uint64_t LocalBackend::LastSequence() const {
  std::lock_guard lock(mutex_);
  return manifest_->last_sequence;
}

absl::StatusOr<std::int64_t> LocalBackend::AvailableCapacity() const {
  ASSIGN_OR_RETURN(const std::int64_t free, FreeBytes());
  return std::max<std::int64_t>(0, (free - kLuksDataOffsetBytes) / kMiB * kMiB);
}

std::map<std::string, std::string> LocalBackend::Topology() const {
  return {{csi::kNodeTopologyKey, options_.node_id}};
}

}  // namespace cloak::controller
