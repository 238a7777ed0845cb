#include "kms/crypto/aes_gcm.h"

#include <openssl/evp.h>

#include <algorithm>

#include "fmt/format.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms {
namespace {

const EVP_CIPHER* Cipher(AesGcmKeySize key_size) {
  return key_size == AesGcmKeySize::kAes128 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
}

absl::Status CheckSizes(AesGcmKeySize key_size, std::span<const std::uint8_t> key,
                        std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
                        std::size_t text_size) {
  if (key.size() != AesGcmKeyLength(key_size)) {
    return absl::InvalidArgumentError(
        fmt::format("AES-GCM key is {} bytes, expected {}", key.size(), AesGcmKeyLength(key_size)));
  }
  if (nonce.size() != kAesGcmNonceSize) {
    return absl::InvalidArgumentError(
        fmt::format("AES-GCM nonce is {} bytes, expected {}", nonce.size(), kAesGcmNonceSize));
  }
  if (!FitsInt(aad.size()) || !FitsInt(text_size)) {
    return absl::InvalidArgumentError("AES-GCM input too large");
  }
  return absl::OkStatus();
}

// Initialises `ctx` for one direction with key and nonce, then feeds `aad`.
absl::Status Begin(EVP_CIPHER_CTX* ctx, bool encrypt, AesGcmKeySize key_size,
                   std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                   std::span<const std::uint8_t> aad) {
  const int enc = encrypt ? 1 : 0;
  if (EVP_CipherInit_ex(ctx, Cipher(key_size), nullptr, nullptr, nullptr, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) !=
          1 ||
      EVP_CipherInit_ex(ctx, nullptr, nullptr, key.data(), nonce.data(), enc) != 1) {
    return OpenSslError("AES-GCM init");
  }
  int length = 0;
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &length, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("AES-GCM aad");
  }
  return absl::OkStatus();
}

}  // namespace

std::size_t AesGcmKeyLength(AesGcmKeySize key_size) {
  return key_size == AesGcmKeySize::kAes128 ? 16 : 32;
}

absl::StatusOr<std::vector<std::uint8_t>> AesGcmSeal(AesGcmKeySize key_size,
                                                     std::span<const std::uint8_t> key,
                                                     std::span<const std::uint8_t> nonce,
                                                     std::span<const std::uint8_t> aad,
                                                     std::span<const std::uint8_t> plaintext) {
  if (absl::Status s = CheckSizes(key_size, key, nonce, aad, plaintext.size()); !s.ok()) return s;
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  if (absl::Status s = Begin(ctx.get(), true, key_size, key, nonce, aad); !s.ok()) return s;

  std::vector<std::uint8_t> out(plaintext.size() + kAesGcmTagSize);
  int length = 0;
  if (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), out.data(), &length, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return OpenSslError("AES-GCM encrypt");
  }
  int final_length = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + length, &final_length) != 1 ||
      static_cast<std::size_t>(length + final_length) != plaintext.size()) {
    return OpenSslError("AES-GCM encrypt final");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAesGcmTagSize),
                          out.data() + plaintext.size()) != 1) {
    return OpenSslError("AES-GCM get tag");
  }
  return out;
}

absl::StatusOr<SecretBytes> AesGcmOpen(AesGcmKeySize key_size, std::span<const std::uint8_t> key,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> aad,
                                       std::span<const std::uint8_t> ciphertext) {
  if (absl::Status s = CheckSizes(key_size, key, nonce, aad, ciphertext.size()); !s.ok()) {
    return s;
  }
  if (ciphertext.size() < kAesGcmTagSize) {
    return absl::InvalidArgumentError(
        fmt::format("AES-GCM ciphertext is {} bytes, shorter than its {}-byte tag",
                    ciphertext.size(), kAesGcmTagSize));
  }
  const std::size_t text_size = ciphertext.size() - kAesGcmTagSize;
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  if (absl::Status s = Begin(ctx.get(), false, key_size, key, nonce, aad); !s.ok()) return s;

  SecretBytes plaintext(text_size);
  int length = 0;
  if (text_size > 0 && EVP_DecryptUpdate(ctx.get(), plaintext.MutableSecretData(), &length,
                                         ciphertext.data(), static_cast<int>(text_size)) != 1) {
    return OpenSslError("AES-GCM decrypt");
  }
  // OpenSSL only reads the tag, but the ctrl interface takes a non-const pointer.
  std::uint8_t tag[kAesGcmTagSize];
  std::copy(ciphertext.begin() + static_cast<std::ptrdiff_t>(text_size), ciphertext.end(), tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAesGcmTagSize), tag) !=
      1) {
    return OpenSslError("AES-GCM set tag");
  }
  int final_length = 0;
  std::uint8_t final_block[16];
  if (EVP_DecryptFinal_ex(ctx.get(), final_block, &final_length) != 1) {
    ClearOpenSslErrors();
    return absl::UnauthenticatedError(
        "AES-GCM authentication failed: the ciphertext, its associated data or the key do not "
        "match");
  }
  return plaintext;
}

}  // namespace cloak::kms
