#pragma once

// `cloak-kms init`: the embedded default in one directory — a development PKI, a file KEK,
// a session signing seed, an SQLite store path and kms.yaml — plus the cloakctl client
// configuration. Every file is written with mode 0600; the directory is 0700.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::kms::server {

struct InitOptions {
  std::string dir;
  std::string cloakctl_config;  // empty: $HOME/.config/cloak/cloakctl.yaml
  bool force = false;           // replace an existing non-empty dir and cloakctl config
  std::string listen = "127.0.0.1:7443";
};

struct InitResult {
  std::string config_path;    // DIR/kms.yaml
  std::string cloakctl_path;  // the cloakctl configuration written
  std::vector<std::string> files;
};

// File names inside DIR.
inline constexpr char kInitConfigFile[] = "kms.yaml";
inline constexpr char kInitServerCaFile[] = "ca.pem";
inline constexpr char kInitAdminCaFile[] = "admin-ca.pem";
inline constexpr char kInitServerCertFile[] = "server.pem";
inline constexpr char kInitServerKeyFile[] = "server-key.pem";
inline constexpr char kInitAdminCertFile[] = "admin.pem";
inline constexpr char kInitAdminKeyFile[] = "admin-key.pem";
inline constexpr char kInitKekFile[] = "kek.bin";
inline constexpr char kInitSigningKeyFile[] = "session-signing.key";
inline constexpr char kInitStoreFile[] = "store.db";

// Creates everything above. FAILED_PRECONDITION (nothing written) when DIR exists and is
// not empty, or the cloakctl configuration exists, and `force` is false; INVALID_ARGUMENT
// for a missing --dir or a bad listen address; file-system errors name the file.
// With `force`, the files init owns in DIR are replaced and the old store is removed:
// its keys were wrapped under the old KEK and could never be unwrapped again.
absl::StatusOr<InitResult> RunInit(const InitOptions& options);

}  // namespace cloak::kms::server
