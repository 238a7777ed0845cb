#include "kms/crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms {
namespace {

// HKDF is written out over HMAC (RFC 5869 §2.2, §2.3) rather than through EVP_KDF "HKDF":
// that one looks the digest up by name in the provider store on every derivation, which
// cost more than the hashing itself in a key release. Here the HMAC method and one
// context per digest (digest set, no key) are prepared once; every use duplicates the
// template, so nothing is looked up by name again. The templates are immutable after
// set-up and shared between threads (EVP_MAC_CTX_dup only reads them).
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

EVP_MAC_CTX* MakeTemplate(const char* digest) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx == nullptr) return nullptr;
  OSSL_PARAM params[2] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

const EVP_MAC_CTX* Template(HkdfHash hash) {
  static EVP_MAC_CTX* const sha256 = MakeTemplate("SHA256");
  static EVP_MAC_CTX* const sha512 = MakeTemplate("SHA512");
  return hash == HkdfHash::kSha256 ? sha256 : sha512;
}

// HMAC-Hash(key, parts...) into `out` (HashLen bytes).
absl::Status Hmac(HkdfHash hash, std::span<const std::uint8_t> key,
                  std::initializer_list<std::span<const std::uint8_t>> parts, std::uint8_t* out) {
  const EVP_MAC_CTX* base = Template(hash);
  if (base == nullptr) return OpenSslError("HMAC set-up");
  MacCtxPtr ctx(EVP_MAC_CTX_dup(base));
  if (ctx == nullptr) return OpenSslError("EVP_MAC_CTX_dup");
  // HMAC accepts an empty key; OpenSSL wants a non-null pointer for it.
  static const std::uint8_t kEmpty = 0;
  if (EVP_MAC_init(ctx.get(), key.empty() ? &kEmpty : key.data(), key.size(), nullptr) != 1) {
    return OpenSslError("HMAC init");
  }
  for (std::span<const std::uint8_t> part : parts) {
    if (!part.empty() && EVP_MAC_update(ctx.get(), part.data(), part.size()) != 1) {
      return OpenSslError("HMAC update");
    }
  }
  std::size_t written = 0;
  if (EVP_MAC_final(ctx.get(), out, &written, HkdfHashLength(hash)) != 1 ||
      written != HkdfHashLength(hash)) {
    return OpenSslError("HMAC final");
  }
  return absl::OkStatus();
}

}  // namespace

std::size_t HkdfHashLength(HkdfHash hash) { return hash == HkdfHash::kSha256 ? 32 : 64; }

absl::StatusOr<SecretBytes> HkdfExtract(HkdfHash hash, std::span<const std::uint8_t> salt,
                                        std::span<const std::uint8_t> ikm) {
  if (ikm.empty()) return absl::InvalidArgumentError("HKDF-Extract needs a non-empty ikm");
  SecretBytes prk(HkdfHashLength(hash));
  // An absent salt is HashLen zero bytes (RFC 5869 §2.2).
  const std::array<std::uint8_t, 64> zeros{};
  const std::span<const std::uint8_t> key =
      salt.empty() ? std::span<const std::uint8_t>(zeros.data(), HkdfHashLength(hash)) : salt;
  RETURN_IF_ERROR(Hmac(hash, key, {ikm}, prk.MutableSecretData()));
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
  SecretBytes block(hash_length);  // T(i), also fed into T(i+1)
  std::size_t done = 0;
  for (std::uint8_t counter = 1; done < length; ++counter) {
    const std::span<const std::uint8_t> previous =
        counter == 1 ? std::span<const std::uint8_t>() : block.SecretSpan();
    const std::uint8_t counter_byte[1] = {counter};
    std::array<std::uint8_t, 64> next{};
    absl::Status status = Hmac(hash, prk, {previous, info, counter_byte}, next.data());
    if (!status.ok()) {
      OPENSSL_cleanse(next.data(), next.size());
      return status;
    }
    std::memcpy(block.MutableSecretData(), next.data(), hash_length);
    OPENSSL_cleanse(next.data(), next.size());
    const std::size_t take = std::min(hash_length, length - done);
    std::memcpy(okm.MutableSecretData() + done, block.SecretData(), take);
    done += take;
  }
  return okm;
}

}  // namespace cloak::kms
