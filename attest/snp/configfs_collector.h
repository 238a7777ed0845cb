#pragma once

// ConfigfsTsmCollector: SEV-SNP reports through configfs-tsm (Linux >= 6.7,
// Documentation/ABI/testing/configfs-tsm). One request: mkdir an entry under
// <root>/report, write privlevel (optional) and inblob (the 64-byte binding), read
// generation, outblob (the report) and auxblob (the certificate table), read generation
// again to detect a concurrent writer, rmdir the entry.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "attest/snp/collector.h"

namespace cloak::attest::snp {

// Creates and removes configfs-tsm report entries (the kernel populates an entry's
// attributes on mkdir). The real implementation calls mkdir(2) and rmdir(2).
class TsmEntryOps {
 public:
  virtual ~TsmEntryOps() = default;

  // Creates the entry directory `path`. ALREADY_EXISTS when it exists, UNAVAILABLE on
  // other failures. Thread-safe.
  virtual absl::Status MakeEntry(const std::string& path) = 0;

  // Removes the entry `path`. UNAVAILABLE on failure. Thread-safe.
  virtual absl::Status RemoveEntry(const std::string& path) = 0;
};

// mkdir(2) / rmdir(2).
std::unique_ptr<TsmEntryOps> RealTsmEntryOps();

inline constexpr char kDefaultTsmRoot[] = "/sys/kernel/config/tsm";

struct ConfigfsTsmOptions {
  std::string root = kDefaultTsmRoot;      // the directory holding report/
  std::optional<std::uint32_t> privlevel;  // the VMPL to request, when set
  std::shared_ptr<TsmEntryOps> ops;        // null: RealTsmEntryOps()
};

class ConfigfsTsmCollector : public SnpCollector {
 public:
  // FAILED_PRECONDITION when <root>/report is not a directory.
  static absl::StatusOr<std::unique_ptr<ConfigfsTsmCollector>> Create(ConfigfsTsmOptions options);

  absl::StatusOr<std::string> Collect(std::span<const std::uint8_t, 64> binding) override;

 private:
  explicit ConfigfsTsmCollector(ConfigfsTsmOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::string> CollectIn(const std::string& entry,
                                        std::span<const std::uint8_t, 64> binding);
  ConfigfsTsmOptions options_;
};

// Reads the configfs-tsm provider name ("sev_guest", "tdx_guest", ...) by creating and
// removing a throwaway entry under <root>/report. NOT_FOUND when there is no report/.
absl::StatusOr<std::string> ReadTsmProvider(const std::string& root, TsmEntryOps& ops);

}  // namespace cloak::attest::snp
