#pragma once

// What the key store keeps about one volume. The store never sees a plaintext key:
// the only key material it accepts is a WrappedKey, the DEK encrypted under a KEK
// version by the key service (DESIGN §5).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cloak::kms {

// created → formatted by CompareAndSetState; any state → destroyed by DestroyVolume.
enum class VolumeState { kCreated, kFormatted, kDestroyed };

// "created", "formatted", "destroyed".
std::string_view VolumeStateName(VolumeState state);
// INVALID_ARGUMENT for any other name.
absl::StatusOr<VolumeState> ParseVolumeState(std::string_view name);

// A DEK wrapped (encrypted and authenticated) under a KEK. Ciphertext only: there is
// deliberately no conversion from SecretBytes, so plaintext key material cannot be
// handed to the store by accident.
class WrappedKey {
 public:
  WrappedKey() = default;
  explicit WrappedKey(std::vector<std::uint8_t> ciphertext) : ciphertext_(std::move(ciphertext)) {}

  const std::vector<std::uint8_t>& ciphertext() const { return ciphertext_; }
  bool empty() const { return ciphertext_.empty(); }
  std::size_t size() const { return ciphertext_.size(); }

  friend bool operator==(const WrappedKey&, const WrappedKey&) = default;

 private:
  std::vector<std::uint8_t> ciphertext_;
};

using Labels = std::map<std::string, std::string>;

// One stored volume. A destroyed volume is a tombstone: state kDestroyed, empty
// wrapped_dek, everything else kept for the audit trail.
struct Volume {
  std::string volume_id;
  // The volume record (expected encryption parameters) as JSON, validated by the crypt
  // module; the store checks only that it is a JSON object.
  std::string record_json;
  VolumeState state = VolumeState::kCreated;
  // The volume id bound into the wrapped key's associated data: the volume that created
  // the key. Equal to volume_id except for clones, which share their source's key.
  std::string key_id;
  std::uint32_t key_version = 0;
  std::uint32_t kek_version = 0;
  WrappedKey wrapped_dek;
  Labels labels;
  // The volume this one was cloned from; empty for a new volume.
  std::string source_volume_id;
  absl::Time created_at;
  absl::Time updated_at;
  // Starts at 1 and grows by one with every change to the row; compare for equality.
  std::int64_t revision = 0;

  bool destroyed() const { return state == VolumeState::kDestroyed; }
  friend bool operator==(const Volume&, const Volume&) = default;
};

// The caller's half of a new volume; the store adds state, key_id, times and revision.
struct NewVolume {
  std::string volume_id;
  std::string record_json;
  std::uint32_t key_version = 1;
  std::uint32_t kek_version = 0;
  WrappedKey wrapped_dek;
  Labels labels;
};

// A new volume sharing the wrapped key of `source_volume_id`. It starts in the
// source's state (its blocks are a copy of the source's, header included). An empty
// record_json copies the source's record.
struct CloneRequest {
  std::string source_volume_id;
  std::string volume_id;
  std::string record_json;
  Labels labels;
};

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// page_size 0 means kDefaultPageSize; larger than kMaxPageSize is capped.
struct ListVolumesRequest {
  int page_size = 0;
  std::string page_token;
};

// Volumes in ascending volume_id order; next_page_token is empty on the last page.
struct VolumePage {
  std::vector<Volume> volumes;
  std::string next_page_token;
};

}  // namespace cloak::kms
