#include "attest/snp/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "absl/status/status.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {

void ClearOpenSslErrors() { ERR_clear_error(); }

absl::StatusOr<X509Ptr> ParseCertificate(std::string_view bytes, std::string_view what) {
  X509Ptr cert;
  if (bytes.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    ASSIGN_OR_RETURN(auto all, ParsePemBundle(bytes, what));
    if (all.size() != 1) {
      return absl::InvalidArgumentError(
          fmt::format("{}: expected one PEM certificate, found {}", what, all.size()));
    }
    return std::move(all[0]);
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  cert.reset(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        fmt::format("{} is not a DER or PEM X.509 certificate (or has trailing bytes)", what));
  }
  return cert;
}

absl::StatusOr<std::vector<X509Ptr>> ParsePemBundle(std::string_view pem, std::string_view what) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::vector<X509Ptr> out;
  while (bio != nullptr) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    out.emplace_back(x);
  }
  ClearOpenSslErrors();  // the read past the last certificate leaves an error behind
  if (out.empty()) {
    return absl::InvalidArgumentError(fmt::format("{} holds no PEM certificate", what));
  }
  return out;
}

std::vector<std::uint8_t> CertificateDer(X509* cert) {
  const int len = i2d_X509(cert, nullptr);
  if (len <= 0) return {};
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(cert, &p);
  return der;
}

absl::StatusOr<std::array<std::uint8_t, 32>> SpkiSha256(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError("certificate has no encodable SubjectPublicKeyInfo");
  }
  auto digest = Sha256({der, static_cast<std::size_t>(len)});
  OPENSSL_free(der);
  return digest;
}

std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> out{};
  SHA256(data.data(), data.size(), out.data());
  return out;
}

}  // namespace cloak::attest::snp
