#pragma once

// DetectSnp: whether this machine is an SEV-SNP guest, and through which kernel interface
// reports are available; CreateSnpCollector builds the matching collector.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "attest/snp/collector.h"
#include "attest/snp/configfs_collector.h"
#include "attest/snp/sev_guest_collector.h"

namespace cloak::attest::snp {

enum class SnpInterface { kNone, kConfigfsTsm, kSevGuestDevice };

struct SnpPaths {
  std::string configfs_root = kDefaultTsmRoot;
  std::string device = kDefaultSevGuestDevice;
  std::shared_ptr<TsmEntryOps> ops;  // null: RealTsmEntryOps()
};

// kConfigfsTsm when configfs-tsm's provider is "sev_guest", else kSevGuestDevice when the
// device exists, else kNone. Creates and removes one configfs entry when report/ exists.
SnpInterface DetectSnp(const SnpPaths& paths);

// The collector for the detected interface. FAILED_PRECONDITION on a machine that is no
// SEV-SNP guest; UNAVAILABLE when the interface exists but cannot be opened.
absl::StatusOr<std::unique_ptr<SnpCollector>> CreateSnpCollector(const SnpPaths& paths,
                                                                 std::uint32_t vmpl = 0);

}  // namespace cloak::attest::snp
