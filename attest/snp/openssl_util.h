#pragma once

// Owning pointers for the OpenSSL objects attest/snp uses, certificate loading, and the
// conversion of OpenSSL's error queue into a status.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cloak::attest::snp {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

// Drains the thread's OpenSSL error queue (failures whose meaning the caller reports).
void ClearOpenSslErrors();

// Parses one certificate, DER or PEM. INVALID_ARGUMENT naming `what` when it does not parse
// or has trailing bytes.
absl::StatusOr<X509Ptr> ParseCertificate(std::string_view bytes, std::string_view what);

// Parses every certificate of a PEM bundle, in order. INVALID_ARGUMENT when none parses.
absl::StatusOr<std::vector<X509Ptr>> ParsePemBundle(std::string_view pem, std::string_view what);

// The DER encoding of `cert` as parsed (the bytes its issuer signed).
std::vector<std::uint8_t> CertificateDer(X509* cert);

// SHA-256 of the DER SubjectPublicKeyInfo of `cert`.
absl::StatusOr<std::array<std::uint8_t, 32>> SpkiSha256(X509* cert);

// SHA-256 of `data`.
std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> data);

}  // namespace cloak::attest::snp
