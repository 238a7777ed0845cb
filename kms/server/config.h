#pragma once

// The cloak-kms configuration file (docs/kms-server.md): a YAML document parsed strictly.
// Unknown keys and values of the wrong type are errors naming the key; relative paths are
// resolved against the directory of the file.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::kms::server {

struct TlsConfig {
  std::string cert;       // server certificate chain, PEM
  std::string key;        // server private key, PEM (a secret file)
  std::string client_ca;  // CA that signs admin client certificates, PEM
};

struct StoreConfig {
  std::string type = "sqlite";         // "sqlite" or "etcd"
  std::string path;                    // sqlite: the database file
  std::vector<std::string> endpoints;  // etcd: host:port of each member
  std::string prefix = "/cloak/v1/";   // etcd: every key the store writes starts with it
  std::string ca_file;                 // etcd over TLS: CA of the etcd servers, PEM
  std::string cert_file;               // etcd over TLS: client certificate, PEM
  std::string key_file;                // etcd over TLS: client key, PEM (a secret file)
  std::int64_t timeout_ms = 5000;      // etcd: the most one store call may take
};

struct KekConfig {
  std::string type = "file";  // "file" or "pkcs11"
  std::string path;           // file: the KEK file (a secret file)
  std::string module;         // pkcs11 (reserved): the PKCS#11 module
  std::string token_label;    // pkcs11 (reserved)
  std::string pin_file;       // pkcs11 (reserved; a secret file)
};

struct SessionConfig {
  std::string signing_key_file;  // 32-byte Ed25519 seed shared by replicas (a secret file)
  std::int64_t token_ttl_s = 300;
};

struct AttestationConfig {
  bool snp_enabled = true;                   // attestation.sev-snp.enabled
  std::string snp_roots_file;                // extra ASK/ARK PEM; the ARK must match a pin
  std::string snp_vcek_cache_dir;            // VCEKs for reports that arrive without them
  std::vector<std::string> tpm_ek_ca_files;  // CAs EK certificates chain to
};

struct ServerConfig {
  std::string listen = "127.0.0.1:7443";
  TlsConfig tls;
  StoreConfig store;
  KekConfig kek;
  SessionConfig session;
  AttestationConfig attestation;
  bool insecure_allow_unattested = false;
  std::string ready_file;  // empty: none
  std::string log_format = "text";
  std::string log_level = "info";
};

// Parses `yaml`; relative paths are resolved against `base_dir` (absolute). Thread-safe.
// INVALID_ARGUMENT naming the key (unknown key, wrong type, missing required key, bad
// value) and saying what is expected.
absl::StatusOr<ServerConfig> ParseServerConfig(std::string_view yaml, const std::string& base_dir);

// Reads and parses the file at `path`; relative paths in it resolve against its directory.
// NOT_FOUND when it is missing; otherwise as ParseServerConfig, prefixed with the path.
absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path);

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

// "HOST:PORT" or "[V6]:PORT", port 0..65535 (0: any free port). INVALID_ARGUMENT naming
// `field`.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text, std::string_view field);
// "host:port", with brackets around an IPv6 host.
std::string FormatHostPort(const HostPort& address);

// Checks that the file at `path`, named by config key `field`, is a regular file owned by
// this process's effective user with no group or other permission bits. Thread-safe.
// NOT_FOUND, PERMISSION_DENIED (owner) or FAILED_PRECONDITION (mode, type), each naming
// the key, the file and the fix.
absl::Status CheckSecretFile(const std::string& path, std::string_view field);

// CheckSecretFile for every secret file the configuration names (the TLS key, the file
// KEK, the session signing key). Thread-safe.
absl::Status CheckSecretFiles(const ServerConfig& config);

}  // namespace cloak::kms::server
