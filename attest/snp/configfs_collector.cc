#include "attest/snp/configfs_collector.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "attest/snp/snp_report.h"
#include "attest/snp/sysfs_io.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

constexpr std::size_t kMaxAuxBlob = 1 << 20;

class RealOps : public TsmEntryOps {
 public:
  absl::Status MakeEntry(const std::string& path) override {
    if (::mkdir(path.c_str(), 0700) == 0) return absl::OkStatus();
    const int err = errno;
    if (err == EEXIST) return absl::AlreadyExistsError(fmt::format("{} exists", path));
    return absl::UnavailableError(ErrnoToStatus(err, fmt::format("mkdir {}", path)).message());
  }
  absl::Status RemoveEntry(const std::string& path) override {
    if (::rmdir(path.c_str()) == 0) return absl::OkStatus();
    return absl::UnavailableError(ErrnoToStatus(errno, fmt::format("rmdir {}", path)).message());
  }
};

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Creates a fresh entry under <root>/report; returns its path.
absl::StatusOr<std::string> NewEntry(const std::string& root, TsmEntryOps& ops) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 16; ++attempt) {
    const std::string path = fmt::format("{}/report/cloak-{}-{}", root, ::getpid(),
                                         counter.fetch_add(1, std::memory_order_relaxed));
    absl::Status s = ops.MakeEntry(path);
    if (s.ok()) return path;
    if (!absl::IsAlreadyExists(s)) return s;
  }
  return absl::UnavailableError(
      fmt::format("cannot create a report entry under {}/report: every name tried exists", root));
}

// Removes the entry when the request ends, whatever its outcome.
class EntryGuard {
 public:
  EntryGuard(TsmEntryOps& ops, std::string path) : ops_(ops), path_(std::move(path)) {}
  EntryGuard(const EntryGuard&) = delete;
  EntryGuard& operator=(const EntryGuard&) = delete;
  ~EntryGuard() { ops_.RemoveEntry(path_).IgnoreError(); }

 private:
  TsmEntryOps& ops_;
  std::string path_;
};

absl::StatusOr<std::string> ReadTrimmed(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadAttribute(path, 256));
  return std::string(absl::StripAsciiWhitespace(text));
}

std::shared_ptr<TsmEntryOps> OpsOrReal(std::shared_ptr<TsmEntryOps> ops) {
  if (ops != nullptr) return ops;
  return std::shared_ptr<TsmEntryOps>(RealTsmEntryOps());
}

}  // namespace

std::unique_ptr<TsmEntryOps> RealTsmEntryOps() { return std::make_unique<RealOps>(); }

absl::StatusOr<std::string> ReadTsmProvider(const std::string& root, TsmEntryOps& ops) {
  if (!IsDirectory(root + "/report")) {
    return absl::NotFoundError(fmt::format("{}/report does not exist (no configfs-tsm)", root));
  }
  ASSIGN_OR_RETURN(std::string entry, NewEntry(root, ops));
  EntryGuard guard(ops, entry);
  return ReadTrimmed(entry + "/provider");
}

absl::StatusOr<std::unique_ptr<ConfigfsTsmCollector>> ConfigfsTsmCollector::Create(
    ConfigfsTsmOptions options) {
  if (!IsDirectory(options.root + "/report")) {
    return absl::FailedPreconditionError(
        fmt::format("{}/report is not a directory: configfs-tsm needs Linux 6.7 or later with "
                    "configfs mounted at /sys/kernel/config",
                    options.root));
  }
  options.ops = OpsOrReal(std::move(options.ops));
  return std::unique_ptr<ConfigfsTsmCollector>(new ConfigfsTsmCollector(std::move(options)));
}

absl::StatusOr<std::string> ConfigfsTsmCollector::Collect(
    std::span<const std::uint8_t, 64> binding) {
  ASSIGN_OR_RETURN(std::string entry, NewEntry(options_.root, *options_.ops));
  EntryGuard guard(*options_.ops, entry);
  return CollectIn(entry, binding);
}

absl::StatusOr<std::string> ConfigfsTsmCollector::CollectIn(
    const std::string& entry, std::span<const std::uint8_t, 64> binding) {
  ASSIGN_OR_RETURN(std::string provider, ReadTrimmed(entry + "/provider"));
  if (provider != "sev_guest") {
    return absl::FailedPreconditionError(fmt::format(
        "configfs-tsm provider is \"{}\", not sev_guest: this is no SEV-SNP guest", provider));
  }
  if (options_.privlevel.has_value()) {
    RETURN_IF_ERROR(WriteAttribute(entry + "/privlevel", fmt::format("{}", *options_.privlevel)));
  }
  RETURN_IF_ERROR(WriteAttribute(entry + "/inblob",
                                 {reinterpret_cast<const char*>(binding.data()), binding.size()}));
  ASSIGN_OR_RETURN(std::string generation_before, ReadTrimmed(entry + "/generation"));
  ASSIGN_OR_RETURN(std::string report, ReadAttribute(entry + "/outblob", kReportSize * 4));
  auto aux = ReadAttribute(entry + "/auxblob", kMaxAuxBlob);
  std::string table;
  if (aux.ok()) {
    table = *std::move(aux);
  } else if (!absl::IsUnavailable(aux.status())) {
    return aux.status();
  }  // no auxblob: the host provides no certificates
  ASSIGN_OR_RETURN(std::string generation_after, ReadTrimmed(entry + "/generation"));
  if (generation_before != generation_after) {
    return absl::AbortedError(
        fmt::format("configfs-tsm entry {} changed while the report was read (generation {} -> "
                    "{}): another writer; retry",
                    entry, generation_before, generation_after));
  }
  if (report.size() != kReportSize) {
    return absl::UnavailableError(fmt::format(
        "configfs-tsm outblob holds {} bytes, not a {}-byte report", report.size(), kReportSize));
  }
  return EncodeSevSnpEvidence(report, table);
}

}  // namespace cloak::attest::snp
