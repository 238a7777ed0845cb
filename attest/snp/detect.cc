#include "attest/snp/detect.h"

#include <sys/stat.h>

#include "absl/status/status.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {

SnpInterface DetectSnp(const SnpPaths& paths) {
  std::shared_ptr<TsmEntryOps> ops = paths.ops;
  if (ops == nullptr) ops = RealTsmEntryOps();
  auto provider = ReadTsmProvider(paths.configfs_root, *ops);
  if (provider.ok() && *provider == "sev_guest") return SnpInterface::kConfigfsTsm;
  struct stat st {};
  if (::stat(paths.device.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
    return SnpInterface::kSevGuestDevice;
  }
  return SnpInterface::kNone;
}

absl::StatusOr<std::unique_ptr<SnpCollector>> CreateSnpCollector(const SnpPaths& paths,
                                                                 std::uint32_t vmpl) {
  switch (DetectSnp(paths)) {
    case SnpInterface::kConfigfsTsm: {
      ConfigfsTsmOptions options;
      options.root = paths.configfs_root;
      options.privlevel = vmpl;
      options.ops = paths.ops;
      ASSIGN_OR_RETURN(auto collector, ConfigfsTsmCollector::Create(std::move(options)));
      return std::unique_ptr<SnpCollector>(std::move(collector));
    }
    case SnpInterface::kSevGuestDevice: {
      ASSIGN_OR_RETURN(auto device, OpenSevGuestDevice(paths.device));
      return std::unique_ptr<SnpCollector>(
          std::make_unique<SevGuestCollector>(std::move(device), vmpl));
    }
    case SnpInterface::kNone:
      break;
  }
  return absl::FailedPreconditionError(
      fmt::format("not an SEV-SNP guest: no configfs-tsm sev_guest provider under {} and no {}; "
                  "run the node on an SEV-SNP confidential VM",
                  paths.configfs_root, paths.device));
}

}  // namespace cloak::attest::snp
