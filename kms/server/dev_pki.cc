#include "kms/server/dev_pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms::server {
namespace {

struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

constexpr char kOrganisation[] = "Cloak development";

absl::StatusOr<EvpPkeyPtr> NewP256Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("generating an EC P-256 key");
  return key;
}

struct Issuer {
  X509* cert = nullptr;  // null: self-signed
  EVP_PKEY* key = nullptr;
};

absl::StatusOr<X509Ptr> MakeCertificate(const std::string& common_name, EVP_PKEY* subject_key,
                                        const Issuer& issuer, absl::Duration validity,
                                        const std::vector<std::pair<int, std::string>>& exts) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("X509_new");
  }
  // A positive 127-bit random serial (RFC 5280 §4.1.2.2 allows up to 20 octets).
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return OpenSslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;
  serial_bytes[0] |= 0x01;
  std::unique_ptr<BIGNUM, BnDeleter> serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("setting the serial number");
  }
  // Backdated five minutes for clock skew between this host and its clients.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), absl::ToInt64Seconds(validity)) == nullptr) {
    return OpenSslError("setting the validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(kOrganisation), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return OpenSslError("setting the subject");
  }
  X509* issuer_cert = issuer.cert != nullptr ? issuer.cert : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslError("setting the issuer and key");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) return OpenSslError("building extension " + value);
    const int added = X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
    if (added != 1) return OpenSslError("adding extension " + value);
  }
  EVP_PKEY* signing_key = issuer.key != nullptr ? issuer.key : subject_key;
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) {
    return OpenSslError("signing the certificate");
  }
  return cert;
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The key's PKCS#8 PEM, through a secure-heap BIO (wiped when freed) into SecretBytes.
absl::StatusOr<SecretBytes> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return SecretBytes::CopyFrom(
      {reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(size)});
}

struct CaParts {
  EvpPkeyPtr key;
  X509Ptr cert;
};

absl::StatusOr<CaParts> MakeCa(const std::string& common_name, absl::Duration validity) {
  CaParts ca;
  ASSIGN_OR_RETURN(ca.key, NewP256Key());
  ASSIGN_OR_RETURN(ca.cert, MakeCertificate(common_name, ca.key.get(), Issuer{}, validity,
                                            {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                             {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                             {NID_subject_key_identifier, "hash"}}));
  return ca;
}

absl::StatusOr<PemCertificate> MakeLeaf(const std::string& common_name, const CaParts& ca,
                                        absl::Duration validity, const std::string& eku,
                                        const std::string& san) {
  ASSIGN_OR_RETURN(EvpPkeyPtr key, NewP256Key());
  std::vector<std::pair<int, std::string>> exts = {{NID_basic_constraints, "critical,CA:FALSE"},
                                                   {NID_key_usage, "critical,digitalSignature"},
                                                   {NID_ext_key_usage, eku},
                                                   {NID_subject_key_identifier, "hash"},
                                                   {NID_authority_key_identifier, "keyid:always"}};
  if (!san.empty()) exts.emplace_back(NID_subject_alt_name, san);
  ASSIGN_OR_RETURN(
      X509Ptr cert,
      MakeCertificate(common_name, key.get(), Issuer{ca.cert.get(), ca.key.get()}, validity, exts));
  PemCertificate out;
  ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert.get()));
  ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  return out;
}

}  // namespace

absl::StatusOr<DevPki> GenerateDevPki(const DevPkiOptions& options) {
  if (options.validity <= absl::ZeroDuration() || options.admin_common_name.empty()) {
    return absl::InvalidArgumentError("dev PKI: validity must be positive and the admin CN set");
  }
  DevPki pki;
  ASSIGN_OR_RETURN(CaParts server_ca, MakeCa("cloak-kms development server CA", options.validity));
  ASSIGN_OR_RETURN(CaParts admin_ca, MakeCa("cloak-kms development admin CA", options.validity));
  ASSIGN_OR_RETURN(pki.server_ca_pem, CertPem(server_ca.cert.get()));
  ASSIGN_OR_RETURN(pki.admin_ca_pem, CertPem(admin_ca.cert.get()));
  ASSIGN_OR_RETURN(pki.server, MakeLeaf("localhost", server_ca, options.validity, "serverAuth",
                                        "DNS:localhost,IP:127.0.0.1,IP:::1"));
  ASSIGN_OR_RETURN(
      pki.admin, MakeLeaf(options.admin_common_name, admin_ca, options.validity, "clientAuth", ""));
  return pki;
}

}  // namespace cloak::kms::server
