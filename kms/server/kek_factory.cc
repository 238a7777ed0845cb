#include "kms/server/kek_factory.h"

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/file_kek_provider.h"

namespace cloak::kms::server {

absl::StatusOr<KekBackend> MakeKekProvider(const KekConfig& config) {
  if (config.type == "file") {
    absl::StatusOr<std::unique_ptr<FileKekProvider>> file = FileKekProvider::Open(config.path);
    if (!file.ok()) return Annotate(file.status(), fmt::format("kek.path {}", config.path));
    KekBackend backend;
    backend.versions = std::make_unique<FileKekVersionManager>(**file);
    backend.provider = *std::move(file);
    return backend;
  }
  if (config.type == "pkcs11") {
    return absl::FailedPreconditionError(
        "config: kek.type pkcs11: the PKCS#11 KEK provider is not built into this binary yet; "
        "use kek.type file with kek.path");
  }
  return absl::InvalidArgumentError(
      fmt::format("config: kek.type must be file or pkcs11, got \"{}\"", config.type));
}

}  // namespace cloak::kms::server
