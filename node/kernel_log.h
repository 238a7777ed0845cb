#pragma once

// KernelLog: integrity failures the kernel reports only in its log. With an AEAD or
// HMAC cipher, dm-crypt itself authenticates each sector (dm-integrity only stores the
// tags), so a forged sector shows up as "device-mapper: crypt: dm-N: INTEGRITY AEAD
// ERROR, sector S" (or "INTEGRITY HMAC ERROR") and not in dm-integrity's mismatch counter.
// NodeGetVolumeStats counts those lines for a volume's devices since it was opened.
// SystemKernelLog reads /dev/kmsg; tests use a fake. Thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::node {

class KernelLog {
 public:
  virtual ~KernelLog() = default;

  // The sequence number of the newest record (0 when the log is empty).
  virtual absl::StatusOr<std::uint64_t> LastSequence() = 0;

  // How many dm-crypt integrity error records name one of `devices` ("dm-3") with a
  // sequence number above `after`. The kernel rate-limits these messages, so the count is
  // a lower bound; records already overwritten in the ring buffer are not seen.
  virtual absl::StatusOr<std::uint64_t> CountIntegrityErrors(
      const std::vector<std::string>& devices, std::uint64_t after) = 0;
};

// Parses one /dev/kmsg record ("prio,seq,ts,flags;message\n..."): its sequence number and
// message. INVALID_ARGUMENT for anything else.
struct KmsgRecord {
  std::uint64_t sequence = 0;
  std::string_view message;
};
absl::StatusOr<KmsgRecord> ParseKmsgRecord(std::string_view record);

// Whether `message` is a dm-crypt integrity error for one of `devices`.
bool IsIntegrityError(std::string_view message, const std::vector<std::string>& devices);

std::unique_ptr<KernelLog> MakeSystemKernelLog(std::string path = "/dev/kmsg");

}  // namespace cloak::node
