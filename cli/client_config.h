#pragma once

// cloakctl's connection settings: where the key service listens and the TLS files that
// authenticate both ends. They come from flags and from a YAML file (by default
// ~/.config/cloak/cloakctl.yaml, written by `cloak-kms init`) holding exactly the keys
// kms, ca, cert and key; a flag overrides the file.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cloak::cli {

// One source of settings (the flags, or the file); unset fields are std::nullopt.
struct ClientSettings {
  std::optional<std::string> kms;   // HOST:PORT of the key service
  std::optional<std::string> ca;    // PEM CA certificate, the only trusted root
  std::optional<std::string> cert;  // PEM admin client certificate
  std::optional<std::string> key;   // PEM private key of the client certificate
};

// The resolved settings: every field set.
struct ClientConfig {
  std::string kms;
  std::string ca;
  std::string cert;
  std::string key;
};

// "$HOME/.config/cloak/cloakctl.yaml"; empty when HOME is unset. Thread-safe.
std::string DefaultClientConfigPath();

// Parses the config file's text. Relative paths resolve against `base_dir`. Thread-safe.
// INVALID_ARGUMENT naming the key for an unknown key, a value that is not a string, or a
// document that is not a mapping.
absl::StatusOr<ClientSettings> ParseClientConfig(absl::string_view yaml,
                                                 const std::string& base_dir);

// Reads and parses the file at `path` (relative paths in it resolve against its
// directory). NOT_FOUND when it does not exist; otherwise as ParseClientConfig, with the
// path in the message. Thread-safe.
absl::StatusOr<ClientSettings> LoadClientConfig(const std::string& path);

// Flags first, then the file. INVALID_ARGUMENT naming the flag and the config key when a
// setting is missing from both, or when kms is not HOST:PORT. `config_path` only
// appears in messages.
absl::StatusOr<ClientConfig> ResolveClientConfig(const ClientSettings& flags,
                                                 const ClientSettings& file,
                                                 absl::string_view config_path);

// Checks "HOST:PORT" / "[V6]:PORT" with a port of 1..65535. INVALID_ARGUMENT otherwise.
absl::Status ValidateKmsAddress(absl::string_view address);

}  // namespace cloak::cli
