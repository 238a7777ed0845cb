#include "kms/server/tls.h"

#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/status.h"
#include "fmt/format.h"
#include "grpcpp/security/server_credentials.h"
#include "kms/crypto/openssl_util.h"
#include "kms/crypto/secret_file.h"

namespace cloak::kms::server {
namespace {

constexpr std::size_t kMaxKeyFileSize = 64 * 1024;

// Applied by OpenSSL to every SSL_CTX it creates (ssl_conf's "system_default"). Debian 12
// ships no system_default section, so nothing of the distribution's is replaced.
constexpr char kTls13OnlyConfig[] =
    "openssl_conf = cloak_openssl_init\n"
    "[cloak_openssl_init]\n"
    "ssl_conf = cloak_ssl_sect\n"
    "[cloak_ssl_sect]\n"
    "system_default = cloak_system_default\n"
    "[cloak_system_default]\n"
    "Protocol = -ALL, TLSv1.3\n"
    "MinProtocol = TLSv1.3\n"
    "CipherString = DEFAULT:@SECLEVEL=2\n";

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
struct CertStackDeleter {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_pop_free(stack, X509_free); }
};
struct ConfDeleter {
  void operator()(CONF* conf) const { NCONF_free(conf); }
};

absl::Status ApplyTls13Config() {
  // Load the distribution's configuration first: OpenSSL loads it only once, and a later
  // automatic load would otherwise replace ours.
  if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1) {
    return OpenSslError("OPENSSL_init_ssl");
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(kTls13OnlyConfig, -1));
  std::unique_ptr<CONF, ConfDeleter> conf(NCONF_new(nullptr));
  if (bio == nullptr || conf == nullptr) return OpenSslError("allocating the TLS configuration");
  long error_line = 0;
  if (NCONF_load_bio(conf.get(), bio.get(), &error_line) != 1) {
    return OpenSslError(fmt::format("parsing the TLS 1.3 configuration (line {})", error_line));
  }
  if (CONF_modules_load(conf.get(), nullptr, 0) <= 0) {
    return OpenSslError("applying the TLS 1.3 configuration");
  }
  return absl::OkStatus();
}

std::unique_ptr<X509, X509Deleter> ParseCert(const std::string& pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  return std::unique_ptr<X509, X509Deleter>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string SubjectOf(X509* cert) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return "";
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(fmt::format(
      "AdminService needs a client certificate signed by the admin CA (tls.client_ca): {}; "
      "connect with the admin certificate and key (cloakctl's cert and key)",
      why));
}

}  // namespace

absl::Status RestrictProcessToTls13() {
  static std::once_flag once;
  static absl::Status result;
  std::call_once(once, [] { result = ApplyTls13Config(); });
  return result;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path, std::string_view field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    return Annotate(ErrnoToStatus(error == 0 ? ENOENT : error, path),
                    fmt::format("{}: cannot read the file", field));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsConfig& tls) {
  ASSIGN_OR_RETURN(std::string cert, ReadTextFile(tls.cert, "tls.cert"));
  ASSIGN_OR_RETURN(std::string client_ca, ReadTextFile(tls.client_ca, "tls.client_ca"));
  if (ParseCert(cert) == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("tls.cert: {} holds no PEM certificate", tls.cert));
  }
  if (ParseCert(client_ca) == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("tls.client_ca: {} holds no PEM certificate", tls.client_ca));
  }
  absl::StatusOr<SecretBytes> key = ReadPrivateFile(tls.key, kMaxKeyFileSize);
  if (!key.ok()) return Annotate(key.status(), fmt::format("tls.key {}", tls.key));

  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = client_ca;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  // gRPC's API takes the key as a std::string and copies it; the copy here is wiped as
  // soon as the credentials exist.
  pair.private_key.assign(reinterpret_cast<const char*>(key->SecretData()), key->size());
  pair.cert_chain = cert;
  options.pem_key_cert_pairs.push_back(std::move(pair));
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  std::string& copy = options.pem_key_cert_pairs.front().private_key;
  OPENSSL_cleanse(copy.data(), copy.size());
  if (credentials == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("tls.cert / tls.key: gRPC refused {} and {}; check that they are PEM and "
                    "that the key matches the certificate",
                    tls.cert, tls.key));
  }
  return credentials;
}

struct AdminAuthenticator::Store {
  X509_STORE* store = nullptr;
  ~Store() { X509_STORE_free(store); }
};

AdminAuthenticator::AdminAuthenticator(std::unique_ptr<Store> store) : store_(std::move(store)) {}
AdminAuthenticator::~AdminAuthenticator() = default;

absl::StatusOr<std::unique_ptr<AdminAuthenticator>> AdminAuthenticator::Create(
    const std::string& client_ca_pem) {
  auto store = std::make_unique<Store>();
  store->store = X509_STORE_new();
  if (store->store == nullptr) return OpenSslError("X509_STORE_new");
  std::unique_ptr<BIO, BioDeleter> bio(
      BIO_new_mem_buf(client_ca_pem.data(), static_cast<int>(client_ca_pem.size())));
  if (bio == nullptr) return OpenSslError("BIO_new_mem_buf");
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    const int added = X509_STORE_add_cert(store->store, cert);
    X509_free(cert);
    if (added != 1) return OpenSslError("X509_STORE_add_cert");
    ++count;
  }
  ClearOpenSslErrors();  // the end of the PEM stream reads as an error
  if (count == 0) {
    return absl::InvalidArgumentError("tls.client_ca: holds no PEM certificate");
  }
  return std::unique_ptr<AdminAuthenticator>(new AdminAuthenticator(std::move(store)));
}

absl::StatusOr<std::string> AdminAuthenticator::Authenticate(const grpc::AuthContext& auth) const {
  const std::vector<grpc::string_ref> leaf =
      auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (leaf.empty()) return Unauthenticated("the connection presented no client certificate");
  std::unique_ptr<X509, X509Deleter> cert =
      ParseCert(std::string(leaf.front().data(), leaf.front().size()));
  if (cert == nullptr) return Unauthenticated("the client certificate does not parse");

  // The TLS layer verified the chain already; checking again here keeps this service
  // correct on its own and adds the purpose check (extendedKeyUsage clientAuth).
  std::unique_ptr<STACK_OF(X509), CertStackDeleter> untrusted(sk_X509_new_null());
  for (const grpc::string_ref& pem :
       auth.FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME)) {
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    while (bio != nullptr) {
      X509* chain_cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      if (chain_cert == nullptr) break;
      sk_X509_push(untrusted.get(), chain_cert);
    }
  }
  ClearOpenSslErrors();
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store_->store, cert.get(), untrusted.get()) != 1) {
    ClearOpenSslErrors();
    return absl::InternalError("cannot set up the admin certificate check");
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    return Unauthenticated(fmt::format("the client certificate {} was refused: {}",
                                       SubjectOf(cert.get()),
                                       X509_verify_cert_error_string(error)));
  }
  std::string subject = SubjectOf(cert.get());
  if (subject.empty()) return Unauthenticated("the client certificate has no subject");
  return subject;
}

}  // namespace cloak::kms::server
