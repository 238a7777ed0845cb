#include "attest/tpm/ek_certificate.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>

#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_structures.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::tpm {
namespace {

struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

std::string Subject(X509* cert) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    kms::ClearOpenSslErrors();
    return "";
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : "";
}

}  // namespace

absl::StatusOr<X509_STORE*> MakeEkCaStore(const std::vector<std::string>& pem_certificates) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return kms::OpenSslError("X509_STORE_new");
  for (std::size_t i = 0; i < pem_certificates.size(); ++i) {
    const std::string& pem = pem_certificates[i];
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    int added = 0;
    while (bio != nullptr) {
      std::unique_ptr<X509, X509Deleter> cert(
          PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (cert == nullptr) break;
      if (X509_STORE_add_cert(store, cert.get()) != 1) break;
      ++added;
    }
    kms::ClearOpenSslErrors();
    if (added == 0) {
      X509_STORE_free(store);
      return absl::InvalidArgumentError(
          fmt::format("EK CA entry {} holds no PEM certificate OpenSSL can parse", i));
    }
  }
  return store;
}

absl::StatusOr<std::string> VerifyEkCertificate(X509_STORE* store,
                                                std::span<const std::uint8_t> certificate,
                                                std::span<const std::uint8_t> ek_public) {
  const std::uint8_t* cursor = certificate.data();
  std::unique_ptr<X509, X509Deleter> cert(
      d2i_X509(nullptr, &cursor, static_cast<long>(certificate.size())));
  if (cert == nullptr || cursor != certificate.data() + certificate.size()) {
    kms::ClearOpenSslErrors();
    return absl::UnauthenticatedError("EK certificate is not one DER X.509 certificate");
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store, cert.get(), nullptr) != 1) {
    return kms::OpenSslError("X509_STORE_CTX_init");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    kms::ClearOpenSslErrors();
    return absl::UnauthenticatedError(
        fmt::format("EK certificate does not chain to a configured EK CA: {}",
                    X509_verify_cert_error_string(error)));
  }
  ASSIGN_OR_RETURN(const TpmtPublic ek, ParseTpmtPublic(ek_public));
  ASSIGN_OR_RETURN(const kms::EvpPkeyPtr ek_key, PublicKeyFromTpmt(ek));
  EVP_PKEY* cert_key = X509_get0_pubkey(cert.get());
  if (cert_key == nullptr || EVP_PKEY_eq(cert_key, ek_key.get()) != 1) {
    kms::ClearOpenSslErrors();
    return absl::UnauthenticatedError("EK certificate certifies a different key than the EK");
  }
  return Subject(cert.get());
}

}  // namespace cloak::attest::tpm
