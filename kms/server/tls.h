#pragma once

// TLS for cloak-kms: TLS 1.3 only, the server credentials, and the admin client
// certificate check. Both services share one port; the TLS layer asks for a client
// certificate but does not require one (KeyService clients have none), and
// AdminService refuses calls whose connection carried no certificate verified against
// the admin CA.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/server_credentials.h"
#include "kms/server/config.h"

namespace cloak::kms::server {

// Makes every TLS context this process creates from now on refuse anything older than
// TLS 1.3. gRPC 1.51 (Debian 12) has no public setting for the protocol version, so this
// installs an OpenSSL "system_default" configuration (Protocol = -ALL, TLSv1.3), which
// OpenSSL applies to each new SSL_CTX and which gRPC's own minimum (TLS 1.2) does not
// lift. Idempotent and thread-safe; INTERNAL when OpenSSL refuses the configuration.
absl::Status RestrictProcessToTls13();

// Server credentials from the files `tls` names: the certificate chain, its private key
// (a secret file) and the admin CA as the roots that client certificates are verified
// against (requested, verified when presented, not required). INVALID_ARGUMENT /
// NOT_FOUND / FAILED_PRECONDITION naming the key and the file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsConfig& tls);

// Checks an admin caller's client certificate against the admin CA.
class AdminAuthenticator {
 public:
  // `client_ca_pem`: one or more PEM certificates. INVALID_ARGUMENT when none parses.
  static absl::StatusOr<std::unique_ptr<AdminAuthenticator>> Create(
      const std::string& client_ca_pem);
  ~AdminAuthenticator();

  // The certificate subject (RFC 2253) of the caller when its connection presented a
  // certificate that chains to the admin CA and allows client authentication.
  // Thread-safe. UNAUTHENTICATED otherwise, saying what to present.
  absl::StatusOr<std::string> Authenticate(const grpc::AuthContext& auth) const;

 private:
  struct Store;
  explicit AdminAuthenticator(std::unique_ptr<Store> store);
  std::unique_ptr<Store> store_;
};

// The whole file at `path` (certificates and other public files). NOT_FOUND /
// UNAVAILABLE naming `field` and the file.
absl::StatusOr<std::string> ReadTextFile(const std::string& path, std::string_view field);

}  // namespace cloak::kms::server
