#pragma once

// Engine: the volume-level operations of the crypt module (format, validate, open, close,
// status, resize, integrity initialisation). Pure logic over the Cryptsetup, DeviceMapper
// and BlockDevices interfaces; it never touches the OS itself, so unit tests drive it
// with fakes. Thread-compatible: callers hold the per-volume lock (DESIGN §4 step 1).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "crypt/block_devices.h"
#include "crypt/cryptsetup.h"
#include "crypt/device_mapper.h"
#include "crypt/volume_record.h"

namespace cloak::crypt {

// What the caller knows about a device it asks to format.
enum class DeviceClaim {
  kUnknown,      // refuse when libblkid finds any signature
  kNewAndEmpty,  // the backend just created it: tolerate stray signatures, never LUKS
};

struct OpenOptions {
  bool allow_discards = false;        // off by default: discards leak the allocation map
  bool integrity_no_journal = false;  // only for the tag initialisation pass
};

struct OpenResult {
  std::string mapper_path;  // "/dev/mapper/<name>"
  bool adopted = false;     // a matching mapping already existed
};

struct VolumeStatus {
  std::string name;
  std::string mapper_path;
  DeviceNumber backing_device;   // the raw device under crypt (and integrity)
  std::uint64_t size_bytes = 0;  // usable size of the mapping
  std::int32_t open_count = 0;
  bool integrity = false;
  std::uint64_t integrity_mismatches = 0;  // dm-integrity's counter since activation
};

struct Progress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  double bytes_per_second = 0;
};
using ProgressCallback = std::function<void(const Progress&)>;

struct IntegrityInitOptions {
  std::uint64_t offset = 0;            // first byte to initialise, multiple of 4096
  std::uint64_t length = 0;            // 0: to the end of the mapping
  std::size_t chunk_bytes = 4u << 20;  // one write, multiple of 4096
  ProgressCallback progress;           // called after every chunk; may be empty
};

using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

class Engine {
 public:
  // Does not take ownership; the three must outlive the engine. `now` is the clock for
  // progress rates (steady_clock::now when empty).
  Engine(Cryptsetup& cryptsetup, DeviceMapper& device_mapper, BlockDevices& devices,
         SteadyNow now = {});

  // Formats `device` for `record` with `dek` as the volume key (invariant 5): only when
  // the record says "created", the device has no LUKS header and (unless `claim` says it
  // is new and empty) no signature at all. Validates the written header afterwards.
  // FAILED_PRECONDITION when refused; INVALID_ARGUMENT for a bad record or key size.
  absl::Status Format(const std::string& device, const VolumeRecord& record, const SecretBytes& dek,
                      DeviceClaim claim);

  // Checks the header on `device` against `record` (invariant 4) and, when `dek` is not
  // null, that it is the key the header's digest was made from. NOT_FOUND when there is
  // no LUKS2 header; FAILED_PRECONDITION naming the first mismatching field;
  // PERMISSION_DENIED when the key does not match the digest.
  absl::Status Validate(const std::string& device, const VolumeRecord& record,
                        const SecretBytes* dek);

  // Validates, activates mapping `name` and verifies the live tables; tears the mapping
  // down on any mismatch. An existing mapping `name` is adopted when it matches and
  // refused (FAILED_PRECONDITION, left untouched) when it does not.
  absl::StatusOr<OpenResult> Open(const std::string& device, const std::string& name,
                                  const VolumeRecord& record, const SecretBytes& dek,
                                  const OpenOptions& options);

  // Verifies the live tables of mapping `name` against `record` on `device`.
  // FAILED_PRECONDITION naming the first mismatching field; NOT_FOUND when absent.
  absl::Status VerifyMapping(const std::string& device, const std::string& name,
                             const VolumeRecord& record, const OpenOptions& options);

  // Removes mapping `name` and its integrity mapping. Absent is OK; UNAVAILABLE when busy.
  absl::Status Close(const std::string& name);

  // Describes mapping `name`; NOT_FOUND when absent.
  absl::StatusOr<VolumeStatus> Status(const std::string& name);

  // Grows mapping `name` to the size of `device` and re-verifies it. FAILED_PRECONDITION
  // for integrity-protected volumes, which cannot be grown in place.
  absl::Status Resize(const std::string& device, const std::string& name,
                      const VolumeRecord& record, const SecretBytes& dek,
                      const OpenOptions& options);

  // Read-only views, for read-only block publishes: a read-only linear mapping `view`
  // over all of mapping `name`. The kernel refuses to open a read-only mapping for
  // writing, which a read-only bind of a device node does not do. OpenReadOnlyView creates
  // the view, or adopts an existing one over `name` (grown to its size); returns its
  // /dev/mapper path. NOT_FOUND when `name` is absent; FAILED_PRECONDITION, leaving it
  // untouched, when `view` exists as anything else.
  absl::StatusOr<std::string> OpenReadOnlyView(const std::string& name, const std::string& view);
  // Grows an existing view to the current size of `name`; NOT_FOUND when either is absent.
  absl::Status ResizeReadOnlyView(const std::string& name, const std::string& view);
  // Removes view `view`. Absent is OK; UNAVAILABLE while it is open.
  absl::Status CloseReadOnlyView(const std::string& view);

  // Writes zeros through mapping `name` so that every integrity tag in the range is
  // valid; reports progress. Returns the bytes written.
  absl::StatusOr<std::uint64_t> InitializeIntegrity(const std::string& name,
                                                    const IntegrityInitOptions& options);

 private:
  absl::Status TearDown(const std::string& name, const absl::Status& cause);
  // Brings view `view` to the whole of `name`; `create`: make it when it is absent.
  absl::Status ReconcileReadOnlyView(const std::string& name, const std::string& view, bool create);
  // VerifyMapping; `check_length` false skips the size checks (before a resize).
  absl::Status VerifyMappingImpl(const std::string& device, const std::string& name,
                                 const VolumeRecord& record, const OpenOptions& options,
                                 bool check_length);

  Cryptsetup& cryptsetup_;
  DeviceMapper& device_mapper_;
  BlockDevices& devices_;
  SteadyNow now_;
};

// "/dev/mapper/<name>".
std::string MapperPath(const std::string& name);

// OK when `name` can name a mapping: 1-100 letters, digits, '-', '_' or '.'.
absl::Status CheckMappingName(const std::string& name);

}  // namespace cloak::crypt
