#pragma once

// SnpCollector: produces SEV-SNP evidence inside the guest (DESIGN §6). Implementations:
// ConfigfsTsmCollector (Linux >= 6.7, configfs_collector.h) and SevGuestCollector
// (/dev/sev-guest ioctl, sev_guest_collector.h); detect.h picks one.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cloak::attest::snp {

class SnpCollector {
 public:
  virtual ~SnpCollector() = default;

  // Asks the firmware for a report whose REPORT_DATA is `binding` and returns a serialized
  // cloak.attest.v1.SevSnpEvidence (report plus the host's certificate table, if any).
  // UNAVAILABLE when the kernel interface fails, ABORTED when a concurrent request changed
  // the request under us (retry), FAILED_PRECONDITION when the interface is not SEV-SNP.
  // Not thread-safe; callers serialise attestation.
  virtual absl::StatusOr<std::string> Collect(std::span<const std::uint8_t, 64> binding) = 0;
};

// Serializes a SevSnpEvidence message.
std::string EncodeSevSnpEvidence(std::string_view report, std::string_view certificate_table);

}  // namespace cloak::attest::snp
