#include "cli/client_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace cloak::cli {
namespace {

constexpr std::streamsize kMaxConfigBytes = 64 << 10;

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

// A setting missing from both places: name the flag, the key and the file.
absl::Status Missing(absl::string_view flag, absl::string_view key, absl::string_view what,
                     absl::string_view config_path) {
  return absl::InvalidArgumentError(
      absl::StrCat("no ", what, ": pass ", flag, " or set `", key, ":` in ",
                   config_path.empty() ? "the config file (--config)" : config_path,
                   " (`cloak-kms init` writes that file)"));
}

}  // namespace

std::string DefaultClientConfigPath() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return absl::StrCat(home, "/.config/cloak/cloakctl.yaml");
}

absl::StatusOr<ClientSettings> ParseClientConfig(absl::string_view yaml,
                                                 const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid YAML (line ", e.mark.line + 1, "): ", e.msg));
  }
  ClientSettings settings;
  if (root.IsNull()) return settings;  // an empty file sets nothing
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        "the document must be a mapping with the keys kms, ca, cert and key");
  }
  for (const auto& item : root) {
    std::string name;
    try {
      name = item.first.as<std::string>();
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError("every key must be a string: kms, ca, cert or key");
    }
    std::optional<std::string>* field = nullptr;
    bool is_path = true;
    if (name == "kms") {
      field = &settings.kms;
      is_path = false;
    } else if (name == "ca") {
      field = &settings.ca;
    } else if (name == "cert") {
      field = &settings.cert;
    } else if (name == "key") {
      field = &settings.key;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key `", name, "`: the allowed keys are kms, ca, cert and key"));
    }
    if (!item.second.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat("`", name, "`: expected a string, not a list, mapping or null"));
    }
    std::string value = item.second.Scalar();
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("`", name, "`: must not be empty"));
    }
    *field = is_path ? Resolve(value, base_dir) : value;
  }
  return settings;
}

absl::StatusOr<ClientSettings> LoadClientConfig(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat("config file ", path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  std::string text(static_cast<std::size_t>(kMaxConfigBytes) + 1, '\0');
  in.read(text.data(), kMaxConfigBytes + 1);
  if (in.gcount() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " exceeds 64 KiB"));
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  const std::string base_dir =
      std::filesystem::absolute(std::filesystem::path(path), error).parent_path().string();
  absl::StatusOr<ClientSettings> settings = ParseClientConfig(text, base_dir);
  if (!settings.ok()) return Annotate(settings.status(), absl::StrCat("config file ", path));
  return settings;
}

absl::Status ValidateKmsAddress(absl::string_view address) {
  const std::size_t colon = address.rfind(':');
  const absl::string_view host = colon == absl::string_view::npos ? "" : address.substr(0, colon);
  int port = 0;
  if (host.empty() || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 ||
      port > 65535 || (host.front() == '[') != (host.back() == ']')) {
    return absl::InvalidArgumentError(
        absl::StrCat("key service address `", address,
                     "`: expected HOST:PORT (for example kms.example.com:7443 or [::1]:7443)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientConfig> ResolveClientConfig(const ClientSettings& flags,
                                                 const ClientSettings& file,
                                                 absl::string_view config_path) {
  ClientConfig config;
  struct Field {
    const std::optional<std::string>& flag;
    const std::optional<std::string>& from_file;
    std::string* out;
    absl::string_view flag_name;
    absl::string_view key;
    absl::string_view what;
  };
  const Field fields[] = {
      {flags.kms, file.kms, &config.kms, "--kms HOST:PORT", "kms", "key service address"},
      {flags.ca, file.ca, &config.ca, "--ca FILE", "ca", "CA certificate"},
      {flags.cert, file.cert, &config.cert, "--cert FILE", "cert", "client certificate"},
      {flags.key, file.key, &config.key, "--key FILE", "key", "client private key"},
  };
  for (const Field& field : fields) {
    if (field.flag.has_value() && !field.flag->empty()) {
      *field.out = *field.flag;
    } else if (field.from_file.has_value()) {
      *field.out = *field.from_file;
    } else {
      return Missing(field.flag_name, field.key, field.what, config_path);
    }
  }
  if (absl::Status status = ValidateKmsAddress(config.kms); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(status.message(), "; fix --kms or `kms:` in the config file"));
  }
  return config;
}

}  // namespace cloak::cli
