#pragma once

// A development PKI for `cloak-kms init`, generated in process with OpenSSL 3:
//   - a server CA (EC P-256, self-signed) and a server certificate for DNS:localhost,
//     IP:127.0.0.1 and IP:::1 with extendedKeyUsage serverAuth;
//   - a separate admin CA (EC P-256, self-signed) and one admin client certificate,
//     CN=cloak-admin, with extendedKeyUsage clientAuth.
// Two CAs keep the roles apart: a certificate from the server CA can never act as an
// admin, and the admin CA (tls.client_ca) signs nothing but admins. The CA private keys
// are discarded once the leaves are signed, so no further certificate can be minted.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret_bytes.h"

namespace cloak::kms::server {

struct PemCertificate {
  std::string cert_pem;
  SecretBytes key_pem;  // PKCS#8, unencrypted
};

struct DevPki {
  std::string server_ca_pem;  // what clients trust for the server (cloakctl's `ca`)
  std::string admin_ca_pem;   // what the server trusts for admins (tls.client_ca)
  PemCertificate server;
  PemCertificate admin;
};

struct DevPkiOptions {
  absl::Duration validity = absl::Hours(24 * 365);
  std::string admin_common_name = "cloak-admin";
};

// Generates the PKI above. Thread-safe. INTERNAL when OpenSSL fails.
absl::StatusOr<DevPki> GenerateDevPki(const DevPkiOptions& options = {});

}  // namespace cloak::kms::server
