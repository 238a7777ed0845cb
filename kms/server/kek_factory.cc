#include "kms/server/kek_factory.h"

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/pkcs11_kek_provider.h"

namespace cloak::kms::server {
namespace {

// KEK versions of a PKCS#11 token are generated and retired inside the token.
class Pkcs11KekVersionManager final : public KekVersionManager {
 public:
  explicit Pkcs11KekVersionManager(Pkcs11KekProvider& provider) : provider_(provider) {}
  absl::StatusOr<std::uint32_t> AddVersion() override { return provider_.AddVersion(); }
  absl::Status Retire(std::uint32_t version) override { return provider_.Retire(version); }

 private:
  Pkcs11KekProvider& provider_;
};

Pkcs11Options TokenOptions(const KekConfig& config) {
  Pkcs11Options options;
  options.module_path = config.module;
  options.token_label = config.token_label;
  options.pin_file = config.pin_file;
  return options;
}

std::string TokenContext(const KekConfig& config) {
  return fmt::format("kek (pkcs11 module {}, token \"{}\")", config.module, config.token_label);
}

}  // namespace

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
    absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> token =
        OpenPkcs11KekProvider(TokenOptions(config));
    if (!token.ok()) return Annotate(token.status(), TokenContext(config));
    KekBackend backend;
    backend.versions = std::make_unique<Pkcs11KekVersionManager>(**token);
    backend.provider = *std::move(token);
    return backend;
  }
  return absl::InvalidArgumentError(
      fmt::format("config: kek.type must be file or pkcs11, got \"{}\"", config.type));
}

absl::StatusOr<std::uint32_t> InitializeKek(const KekConfig& config) {
  if (config.type == "file") {
    absl::StatusOr<std::unique_ptr<FileKekProvider>> file =
        FileKekProvider::Initialize(config.path);
    if (!file.ok()) return Annotate(file.status(), fmt::format("kek.path {}", config.path));
    return (*file)->CurrentVersion();
  }
  if (config.type == "pkcs11") {
    absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> token =
        Pkcs11KekProvider::Initialize(TokenOptions(config));
    if (!token.ok()) return Annotate(token.status(), TokenContext(config));
    return (*token)->CurrentVersion();
  }
  return absl::InvalidArgumentError(
      fmt::format("config: kek.type must be file or pkcs11, got \"{}\"", config.type));
}

}  // namespace cloak::kms::server
