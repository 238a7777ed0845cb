#pragma once

// VolumeBackend: where a volume's raw blocks live. The Controller service decides what a
// volume is (name, size, integrity, labels) and owns the key lifecycle; a backend only
// holds the blocks, which are ciphertext by the time anything is written to them. The
// `local` backend (local_backend.h) keeps sparse files on one node; a `proxy` backend
// over another CSI driver fits the same contract (its volume handle becomes ours).
//
// Creation is two-phase so that a crash between the backing storage and the key leaves
// something a retry can finish: Create records the volume "pending" and allocates it,
// the service creates the key, then MarkReady. A pending volume is never listed, and a
// retried CreateVolume of its name finds and finishes it.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::controller {

using Labels = std::map<std::string, std::string>;

// The integrity mode as StorageClasses spell it: "none", "hmac-sha256" or "aead".
inline constexpr char kIntegrityNone[] = "none";
inline constexpr char kIntegrityHmacSha256[] = "hmac-sha256";
inline constexpr char kIntegrityAead[] = "aead";

struct VolumeSpec {
  std::string name;                 // the CO's name: the idempotency key
  std::int64_t capacity_bytes = 0;  // usable bytes of a new volume, from ChooseCapacity
  // An existing volume of this name is the answer when its capacity lies in
  // [min_bytes, max_bytes] (max 0: no upper bound) and integrity and labels are equal.
  std::int64_t min_bytes = 0;
  std::int64_t max_bytes = 0;
  std::string integrity = kIntegrityNone;
  Labels labels;  // recorded with the key in the key service
};

struct BackendVolume {
  std::string volume_id;
  std::string name;
  std::int64_t capacity_bytes = 0;  // what the filesystem or block user gets at least
  std::string integrity;
  Labels labels;
  bool ready = false;          // false: pending, its key not yet confirmed
  std::uint64_t sequence = 0;  // creation order, 1, 2, ...: ListVolumes pages by it
};

class VolumeBackend {
 public:
  virtual ~VolumeBackend() = default;

  // Every method is thread-safe.

  // The usable size a request for [required, limit] bytes gets (0 means unset; both 0:
  // the backend's default), at least `minimum`. OUT_OF_RANGE naming the range when no
  // size the backend can make lies in it.
  virtual absl::StatusOr<std::int64_t> ChooseCapacity(std::int64_t required, std::int64_t limit,
                                                      std::int64_t minimum) const = 0;

  // The volume named spec.name, created (pending) and allocated when there is none; an
  // existing pending one has its allocation completed. ALREADY_EXISTS when the name is
  // taken by a volume the spec does not accept (size, integrity, labels); RESOURCE_EXHAUSTED when
  // the storage cannot hold it; INTERNAL/UNAVAILABLE for I/O errors, naming the path.
  virtual absl::StatusOr<BackendVolume> Create(const VolumeSpec& spec) = 0;

  // Records that the volume's key exists. NOT_FOUND for an unknown id.
  virtual absl::Status MarkReady(const std::string& volume_id) = 0;

  // The volume (pending or ready). NOT_FOUND for an unknown id.
  virtual absl::StatusOr<BackendVolume> Get(const std::string& volume_id) const = 0;

  // Removes the volume's storage, then its record. OK when it is already gone.
  virtual absl::Status Delete(const std::string& volume_id) = 0;

  // Grows the volume to hold at least `capacity_bytes` usable bytes (never shrinks);
  // the capacity afterwards. NOT_FOUND, RESOURCE_EXHAUSTED.
  virtual absl::StatusOr<std::int64_t> Expand(const std::string& volume_id,
                                              std::int64_t capacity_bytes) = 0;

  // Ready volumes with a sequence above `after`, in creation order, at most `max` of
  // them (0: no limit).
  virtual std::vector<BackendVolume> List(std::uint64_t after, std::size_t max) const = 0;

  // Pending volumes (creation not finished), in creation order.
  virtual std::vector<BackendVolume> ListPending() const = 0;

  // The highest sequence handed out so far (0 before the first volume).
  virtual std::uint64_t LastSequence() const = 0;

  // Usable bytes a new volume could still get. UNAVAILABLE when the storage cannot be
  // queried.
  virtual absl::StatusOr<std::int64_t> AvailableCapacity() const = 0;

  // The topology segments every volume of this backend is reachable from.
  virtual std::map<std::string, std::string> Topology() const = 0;
};

}  // namespace cloak::controller
