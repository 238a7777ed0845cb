#include "crypt/keyslot_passphrase.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>
#include <string>

namespace cloak::crypt {

absl::StatusOr<SecretBytes> DeriveKeyslotPassphrase(const SecretBytes& dek,
                                                    std::string_view volume_id) {
  if (dek.empty() || volume_id.empty()) {
    return absl::InvalidArgumentError("keyslot passphrase: the DEK and volume id must be set");
  }
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        &EVP_KDF_free);
  if (!kdf) return absl::InternalError("keyslot passphrase: OpenSSL has no HKDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (!ctx) return absl::InternalError("keyslot passphrase: cannot create an HKDF context");

  std::string info(kKeyslotPassphraseInfo);  // not secret: a label and the volume id
  info.append(volume_id);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<std::uint8_t*>(dek.SecretData()), dek.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes passphrase(kKeyslotPassphraseBytes);
  if (EVP_KDF_derive(ctx.get(), passphrase.MutableSecretData(), passphrase.size(), params) != 1) {
    return absl::InternalError("keyslot passphrase: HKDF-SHA256 derivation failed");
  }
  return passphrase;
}

}  // namespace cloak::crypt
