#pragma once

// Small helpers shared by the OpenSSL-backed code in kms/crypto: owning pointers for
// OpenSSL objects and the conversion of OpenSSL's error queue into a status.

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace cloak::kms {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct EvpPkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct EvpCipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct EvpKdfCtxDeleter {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxDeleter>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxDeleter>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxDeleter>;

// An INTERNAL status "<what> failed: <first OpenSSL error>"; drains the thread's
// OpenSSL error queue so later calls start clean.
absl::Status OpenSslError(std::string_view what);

// Drains the thread's OpenSSL error queue without reporting it (for failures whose
// meaning the caller already knows, such as a GCM tag mismatch).
void ClearOpenSslErrors();

// True when `size` fits OpenSSL's int length parameters.
inline bool FitsInt(std::size_t size) { return size <= 0x7fffffffu; }

}  // namespace cloak::kms
