#include "kms/server/init_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/random.h"
#include "kms/crypto/secret_file.h"
#include "kms/server/config.h"
#include "kms/server/dev_pki.h"
#include "kms/service/session_tokens.h"
#include "yaml-cpp/yaml.h"

namespace cloak::kms::server {
namespace {

namespace fs = std::filesystem;

SecretBytes Public(const std::string& text) {
  return SecretBytes::CopyFrom({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

absl::Status Write(const fs::path& path, const SecretBytes& contents, InitResult* result) {
  absl::Status status = WritePrivateFileAtomically(path.string(), contents);
  if (!status.ok()) return Annotate(status, fmt::format("init: writing {}", path.string()));
  result->files.push_back(path.string());
  return absl::OkStatus();
}

absl::Status MakePrivateDirectory(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::UnavailableError(
        fmt::format("init: cannot create {}: {}", dir.string(), error.message()));
  }
  if (chmod(dir.c_str(), 0700) != 0) {
    return ErrnoToStatus(errno, fmt::format("init: cannot set mode 0700 on {}", dir.string()));
  }
  return absl::OkStatus();
}

std::string KmsYaml(const std::string& listen) {
  YAML::Emitter out;
  out << YAML::Comment(
             "cloak-kms configuration written by `cloak-kms init` (docs/kms-server.md).\n"
             "Relative paths resolve against this file's directory.")
      << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << listen;
  out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cert" << YAML::Value << kInitServerCertFile;
  out << YAML::Key << "key" << YAML::Value << kInitServerKeyFile;
  out << YAML::Key << "client_ca" << YAML::Value << kInitAdminCaFile;
  out << YAML::EndMap;
  out << YAML::Key << "store" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << "sqlite";
  out << YAML::Key << "path" << YAML::Value << kInitStoreFile;
  out << YAML::EndMap;
  out << YAML::Key << "kek" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << "file";
  out << YAML::Key << "path" << YAML::Value << kInitKekFile;
  out << YAML::EndMap;
  out << YAML::Key << "session" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "signing_key_file" << YAML::Value << kInitSigningKeyFile;
  out << YAML::Key << "token_ttl_s" << YAML::Value << 300;
  out << YAML::EndMap;
  out << YAML::Key << "insecure_allow_unattested" << YAML::Value << false;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string CloakctlYaml(int port, const fs::path& dir) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "kms" << YAML::Value << YAML::DoubleQuoted
      << fmt::format("localhost:{}", port);
  out << YAML::Key << "ca" << YAML::Value << (dir / kInitServerCaFile).string();
  out << YAML::Key << "cert" << YAML::Value << (dir / kInitAdminCertFile).string();
  out << YAML::Key << "key" << YAML::Value << (dir / kInitAdminKeyFile).string();
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<fs::path> CloakctlPath(const InitOptions& options) {
  if (!options.cloakctl_config.empty()) return fs::absolute(options.cloakctl_config);
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/') {
    return absl::InvalidArgumentError(
        "init: HOME is not set to an absolute path; pass --cloakctl-config PATH");
  }
  return fs::path(home) / ".config" / "cloak" / "cloakctl.yaml";
}

}  // namespace

absl::StatusOr<InitResult> RunInit(const InitOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("init: --dir DIR is required");
  ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(options.listen, "init --listen"));
  const fs::path dir = fs::absolute(options.dir).lexically_normal();
  ASSIGN_OR_RETURN(const fs::path cloakctl, CloakctlPath(options));

  std::error_code error;
  const bool dir_exists = fs::exists(dir, error);
  if (dir_exists && !fs::is_directory(dir, error)) {
    return absl::FailedPreconditionError(
        fmt::format("init: {} exists and is not a directory; choose another --dir", dir.string()));
  }
  if (!options.force) {
    if (dir_exists && !fs::is_empty(dir, error)) {
      return absl::FailedPreconditionError(fmt::format(
          "init: {} is not empty; choose an empty or new --dir, or pass --force to replace it "
          "(its KEK and store are discarded, and every volume key in them is lost)",
          dir.string()));
    }
    if (fs::exists(cloakctl, error)) {
      return absl::FailedPreconditionError(fmt::format(
          "init: the cloakctl configuration {} exists; pass --cloakctl-config with another path, "
          "or --force to replace it",
          cloakctl.string()));
    }
  }

  RETURN_IF_ERROR(MakePrivateDirectory(dir));
  if (options.force) {
    for (const char* name : {kInitKekFile, kInitStoreFile}) {
      for (const std::string suffix : {"", "-wal", "-shm"}) {
        fs::remove(dir / (std::string(name) + suffix), error);
      }
    }
  }

  InitResult result;
  ASSIGN_OR_RETURN(DevPki pki, GenerateDevPki());
  RETURN_IF_ERROR(Write(dir / kInitServerCaFile, Public(pki.server_ca_pem), &result));
  RETURN_IF_ERROR(Write(dir / kInitAdminCaFile, Public(pki.admin_ca_pem), &result));
  RETURN_IF_ERROR(Write(dir / kInitServerCertFile, Public(pki.server.cert_pem), &result));
  RETURN_IF_ERROR(Write(dir / kInitServerKeyFile, pki.server.key_pem, &result));
  RETURN_IF_ERROR(Write(dir / kInitAdminCertFile, Public(pki.admin.cert_pem), &result));
  RETURN_IF_ERROR(Write(dir / kInitAdminKeyFile, pki.admin.key_pem, &result));

  const fs::path kek = dir / kInitKekFile;
  absl::StatusOr<std::unique_ptr<FileKekProvider>> provider = FileKekProvider::Initialize(kek);
  if (!provider.ok()) {
    return Annotate(provider.status(), fmt::format("init: creating the KEK file {}", kek.string()));
  }
  result.files.push_back(kek.string());
  ASSIGN_OR_RETURN(SecretBytes seed, RandomSecret(kSessionSigningSeedSize));
  RETURN_IF_ERROR(Write(dir / kInitSigningKeyFile, seed, &result));

  result.config_path = (dir / kInitConfigFile).string();
  RETURN_IF_ERROR(Write(dir / kInitConfigFile, Public(KmsYaml(options.listen)), &result));

  if (!fs::exists(cloakctl.parent_path(), error)) {
    RETURN_IF_ERROR(MakePrivateDirectory(cloakctl.parent_path()));
  }
  RETURN_IF_ERROR(Write(cloakctl, Public(CloakctlYaml(listen.port, dir)), &result));
  result.cloakctl_path = cloakctl.string();
  return result;
}

}  // namespace cloak::kms::server
