#include "kms/crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms {
namespace {

// EVP_KDF_fetch goes through the provider store; fetch once and share the (immutable,
// reference-counted) method between threads.
EVP_KDF* HkdfMethod() {
  static EVP_KDF* const method = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return method;
}

const char* DigestName(HkdfHash hash) { return hash == HkdfHash::kSha256 ? "SHA256" : "SHA512"; }

// OSSL_PARAM wants non-const pointers even for inputs it only reads.
void* Mutable(const std::uint8_t* data) {
  return const_cast<void*>(static_cast<const void*>(data));
}

absl::Status Derive(HkdfHash hash, int mode, std::span<const std::uint8_t> key,
                    std::span<const std::uint8_t> salt, std::span<const std::uint8_t> info,
                    SecretBytes& out) {
  if (HkdfMethod() == nullptr) return OpenSslError("EVP_KDF_fetch(HKDF)");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(HkdfMethod()));
  if (ctx == nullptr) return OpenSslError("EVP_KDF_CTX_new");
  OSSL_PARAM params[6];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 const_cast<char*>(DigestName(hash)), 0);
  params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  params[n++] =
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Mutable(key.data()), key.size());
  if (!salt.empty()) {
    params[n++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, Mutable(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[n++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, Mutable(info.data()), info.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out.MutableSecretData(), out.size(), params) != 1) {
    return OpenSslError("HKDF");
  }
  return absl::OkStatus();
}

}  // namespace

std::size_t HkdfHashLength(HkdfHash hash) { return hash == HkdfHash::kSha256 ? 32 : 64; }

absl::StatusOr<SecretBytes> HkdfExtract(HkdfHash hash, std::span<const std::uint8_t> salt,
                                        std::span<const std::uint8_t> ikm) {
  if (ikm.empty()) return absl::InvalidArgumentError("HKDF-Extract needs a non-empty ikm");
  SecretBytes prk(HkdfHashLength(hash));
  RETURN_IF_ERROR(Derive(hash, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, salt, {}, prk));
  return prk;
}

absl::StatusOr<SecretBytes> HkdfExpand(HkdfHash hash, std::span<const std::uint8_t> prk,
                                       std::span<const std::uint8_t> info, std::size_t length) {
  const std::size_t hash_length = HkdfHashLength(hash);
  if (prk.size() < hash_length) {
    return absl::InvalidArgumentError(
        fmt::format("HKDF-Expand needs a prk of at least {} bytes", hash_length));
  }
  if (length == 0 || length > 255 * hash_length) {
    return absl::InvalidArgumentError(
        fmt::format("HKDF-Expand output length {} is outside 1..{}", length, 255 * hash_length));
  }
  SecretBytes okm(length);
  RETURN_IF_ERROR(Derive(hash, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, {}, info, okm));
  return okm;
}

}  // namespace cloak::kms
